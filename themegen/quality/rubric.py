"""The judge's rubric: its instructions, the request's contents, the answer's schema and the parser
of that answer (pure). Its fingerprint, RUBRIC_VERSION, is part of every cached judgement's key, so an
edited rubric judges again and an unchanged one never pays twice (nor reads a verdict of another format).

The judge lists only what fails: most themes pass every check, so the answer names only the rows
with a failure and their failed checks, where four digits per theme were about 25 tokens a row
(output is the judge's dearest token). It also says how many rows it checked: an answer that does
not count every row of the request (cut short, rows skipped) is an error for all of them, never a
pass. Rows are numbered within the request (1, 2, ...), not named by their source id: a long id (a
UUID is some 20 tokens) would be paid in the question and the answer."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from themegen.domain.prompt import THEME_COUNT

CHECKS = ("grounded", "specific", "distinct", "language")  # per theme, in this order in each verdict
ROW_CHECKS = ("cover",)
NOT_COVERED = "c"  # a row's failure code when its themes miss a main point; a theme's is its number + check letter
_LETTERS = {check[0]: n for n, check in enumerate(CHECKS)}  # g s d l

RUBRIC = (
    "You judge themes another model gave to rows of text. Check each theme of each row in the JSON input "
    "(n, text, themes): g grounded: everything the theme says is supported by the text; s specific: it "
    "names something about this text, not a label that fits any text ('feedback', 'other'); d distinct: it "
    "is not a repeat or near repeat of an earlier theme of the row; l language: it is in the language of "
    "the text (a name the text itself uses counts). Check each row: c cover: its themes together cover the "
    "text's main points. List only the rows with a failure, each once: its n and the checks it fails, a "
    f"theme's as its number (1-{THEME_COUNT}) and letter ('3s': theme 3 is not specific), the row's as 'c'. "
    "Leave out rows where everything passes. rows_checked: how many rows you checked (all of them). Answer "
    "only with JSON that matches the response schema."
)


class RowVerdictSchema(BaseModel):
    n: int = Field(description="the row's n in the input")
    failed: list[str] = Field(description="failed checks: '<theme number><g|s|d|l>' or 'c'")


class JudgementsSchema(BaseModel):
    rows_checked: int
    judgements: list[RowVerdictSchema] = Field(description="only the rows with a failure")


JUDGE_JSON_SCHEMA = JudgementsSchema.model_json_schema()
_CODE = re.compile(r"([1-9][0-9]?)([gsdl])")


def version_of(instructions: str, schema: dict) -> str:
    """A judge prompt's version (pure): edited instructions or schema judge again, unchanged ones never."""
    return hashlib.sha256(json.dumps([instructions, schema], sort_keys=True).encode()).hexdigest()[:12]


RUBRIC_VERSION = version_of(RUBRIC, JUDGE_JSON_SCHEMA)


@dataclass(frozen=True)
class JudgeRow:
    """A sampled row as the judge sees it: its prepared text and its stored themes."""

    id: str
    text: str
    themes: tuple[str, ...]
    input_hash: str


@dataclass(frozen=True)
class Verdict:
    """The judge's answer for one row: per theme (grounded, specific, distinct, language), and cover."""

    themes: tuple[tuple[bool, bool, bool, bool], ...]
    cover: bool

    def to_json(self) -> str:
        return json.dumps({"themes": ["".join("1" if f else "0" for f in t) for t in self.themes], "cover": self.cover})

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        """A verdict as to_json wrote it (the row cache; the sink's Verdicts column holds the same digits)."""
        data = json.loads(text)
        return cls(tuple(tuple(c == "1" for c in digits) for digits in data["themes"]), bool(data["cover"]))

    @property
    def failed_checks(self) -> int:
        return sum(not f for t in self.themes for f in t) + (not self.cover)


class InvalidVerdict(ValueError):
    """The judge's answer for a row cannot be read; the message says why."""


def judge_content(rows: Sequence[JudgeRow]) -> str:
    """The user turn of one judge request (JSON keeps texts and themes unambiguous; no blanks between
    its tokens, each costs input)."""
    return json.dumps({"rows": [{"n": n, "text": r.text, "themes": list(r.themes)} for n, r in enumerate(rows, 1)]},
                      ensure_ascii=False, separators=(",", ":"))


def _verdict(failed: object, themes: int) -> Verdict:
    """A row's verdict from its list of failure codes (every check not listed passed)."""
    if not isinstance(failed, list) or not all(isinstance(code, str) for code in failed):
        raise InvalidVerdict(f"'failed' is not a list of failure codes: {failed!r:.80}")
    flags = [[True] * len(CHECKS) for _ in range(themes)]
    cover = True
    for code in failed:
        code = code.strip().lower()
        if code == NOT_COVERED:
            cover = False
        elif (match := _CODE.fullmatch(code)) and 1 <= int(match[1]) <= themes:
            flags[int(match[1]) - 1][_LETTERS[match[2]]] = False
        else:
            raise InvalidVerdict(f"not a failure code of this row's {themes} themes: {code!r:.20}")
    return Verdict(tuple(tuple(f) for f in flags), cover)


def parse_judgements(text: str | None, rows: Sequence[JudgeRow]) -> dict[str, Verdict | InvalidVerdict]:
    """Each asked row's verdict (a row not listed passed every check), or why it has none. An answer
    that is unreadable, does not count every row, or names a row the request does not have gives
    every row that reason."""
    try:
        data = json.loads(text or "")
        items, checked = data["judgements"], data["rows_checked"]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items) or type(checked) is not int:
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _all(rows, f"the judge's answer is not the judgements JSON: {(text or '')[:80]!r}")
    if checked != len(rows):
        return _all(rows, f"the judge's answer counts {checked} rows checked of {len(rows)} asked")
    failed: dict[int, list] = {}
    for item in items:
        n = item.get("n")
        if type(n) is not int or not 1 <= n <= len(rows):
            return _all(rows, f"the judge's answer names row {n!r:.12} of a {len(rows)}-row request")
        codes = item.get("failed")
        failed.setdefault(n, []).extend(codes if isinstance(codes, list) else [codes])
    found: dict[str, Verdict | InvalidVerdict] = {}
    for n, row in enumerate(rows, 1):
        try:
            found[row.id] = _verdict(failed.get(n, []), len(row.themes))
        except InvalidVerdict as exc:
            found[row.id] = exc
    return found


def _all(rows: Sequence[JudgeRow], reason: str) -> dict[str, InvalidVerdict]:
    return {row.id: InvalidVerdict(reason) for row in rows}
