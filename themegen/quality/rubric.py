"""The judge's rubric: its instructions, the request's contents, the answer's schema and the parser
of that answer (pure). Its fingerprint, RUBRIC_VERSION, is part of every cached judgement's key, so an
edited rubric judges again and an unchanged one never pays twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from themegen.domain.prompt import THEME_COUNT

CHECKS = ("grounded", "specific", "distinct", "language")  # per theme, in this order in each verdict
ROW_CHECKS = ("cover",)

RUBRIC = (
    "You judge themes another model gave to rows of text. For each row in the JSON input (id, text, "
    f"themes), and for each of its {THEME_COUNT} themes in order, answer four digits, 1 for yes and 0 for "
    "no: (1) grounded: everything the theme says is supported by the text; (2) specific: the theme names "
    "something about this text, not a label that fits any text ('feedback', 'other'); (3) distinct: the "
    "theme is not a repeat or near repeat of an earlier theme of the row; (4) language: the theme is in the "
    "language of the text (a name the text itself uses counts). Then cover: true when the themes together "
    "cover the text's main points. Copy each row's id exactly. Answer only with JSON that matches the "
    "response schema."
)


class RowVerdictSchema(BaseModel):
    id: str
    themes: list[str] = Field(description="per theme, four digits 0/1: grounded, specific, distinct, language")
    cover: bool


class JudgementsSchema(BaseModel):
    judgements: list[RowVerdictSchema]


JUDGE_JSON_SCHEMA = JudgementsSchema.model_json_schema()


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
        data = json.loads(text)
        return _verdict(data["themes"], data["cover"], len(data["themes"]))

    @property
    def failed_checks(self) -> int:
        return sum(not f for t in self.themes for f in t) + (not self.cover)


class InvalidVerdict(ValueError):
    """The judge's answer for a row cannot be read; the message says why."""


def judge_content(rows: Sequence[JudgeRow]) -> str:
    """The user turn of one judge request (JSON keeps texts and themes unambiguous)."""
    return json.dumps({"rows": [{"id": r.id, "text": r.text, "themes": list(r.themes)} for r in rows]},
                      ensure_ascii=False)


def _verdict(themes: object, cover: object, expected: int) -> Verdict:
    if not isinstance(themes, list) or len(themes) != expected:
        raise InvalidVerdict(f"expected {expected} theme verdicts, got {themes!r:.80}")
    if not all(isinstance(t, str) and len(t) == len(CHECKS) and set(t) <= {"0", "1"} for t in themes):
        raise InvalidVerdict(f"a theme verdict is not {len(CHECKS)} digits 0/1: {themes!r:.80}")
    if not isinstance(cover, bool):
        raise InvalidVerdict("cover is not true/false")
    return Verdict(tuple(tuple(c == "1" for c in t) for t in themes), cover)


def parse_judgements(text: str | None, rows: Sequence[JudgeRow]) -> dict[str, Verdict | InvalidVerdict]:
    """Each asked row's verdict, or why it has none (missing, unreadable). The answer as a whole
    unreadable: every row gets that reason."""
    try:
        items = json.loads(text or "")["judgements"]
        if not isinstance(items, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        reason = InvalidVerdict(f"the judge's answer is not the judgements JSON: {(text or '')[:80]!r}")
        return {r.id: reason for r in rows}
    by_id = {item.get("id"): item for item in items if isinstance(item, dict)}
    found: dict[str, Verdict | InvalidVerdict] = {}
    for row in rows:
        item = by_id.get(row.id)
        try:
            if item is None:
                raise InvalidVerdict("the judge's answer has no verdict for this row")
            found[row.id] = _verdict(item.get("themes"), item.get("cover"), len(row.themes))
        except InvalidVerdict as exc:
            found[row.id] = exc
    return found
