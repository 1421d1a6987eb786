"""The simulator's judge: a request shaped like themegen's judge request (a response schema with a
`judgements` field; rows of n, text and themes in the user turn) is answered with the rubric,
checked honestly against each row's text by quality.py's checks: grounded, specific, distinct and
in the text's language per theme, and whether the six cover the text; the answer lists only the
rows with a failure and how many rows it checked, as themegen's rubric asks. It finds what quality.py
injects because both use the same checks; every figure it gives comes from this simulator."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from .answers import payload_items, wants_field
from .quality import GOOD_THEMES_TO_COVER, distinct, grounded, in_language, specific

JUDGE_FIELD = "judgements"
PAIR_FIELD = "preferences"  # themegen compare: which of two sets of themes labels the text better


@dataclass
class JudgeStats:
    requests: int = 0  # judge requests received (not counted in Stats.requests: they generate no themes)
    rows_judged: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def reset(self) -> None:
        self.__dict__.update(asdict(JudgeStats()))


def is_judge_request(body: dict[str, Any]) -> bool:
    config = body.get("generationConfig")
    return wants_field(config, JUDGE_FIELD) or wants_field(config, PAIR_FIELD)




def checks(text: str, themes: list[str]) -> list[tuple[bool, bool, bool, bool]]:
    """Per theme: grounded, specific, distinct, in the text's language."""
    return [(grounded(t, text), specific(t), apart, in_language(t, text)) for t, apart in zip(themes, distinct(themes))]


def verdict(text: str, themes: list[str]) -> dict[str, Any]:
    """One row's rubric as themegen's judge asks for it: only the failures, a theme's as its number and
    the check's letter (g s d l), 'c' when the themes do not cover the text."""
    flags = checks(text, themes)
    failed = [f"{n}{letter}" for n, theme in enumerate(flags, 1) for letter, ok in zip("gsdl", theme) if not ok]
    covered = sum(all(theme) for theme in flags) >= GOOD_THEMES_TO_COVER
    return {"failed": failed + ([] if covered else ["c"])}


def prefer_text(user_text: str) -> tuple[str, int]:
    """The pairwise answer: the set with more themes passing every check is better, whichever position
    it is shown in (no position bias); equal counts are "same"."""
    answered = []
    for row in payload_items(user_text, "rows"):
        first, second, text = row.get("first"), row.get("second"), str(row.get("text", ""))
        if not isinstance(first, list) or not isinstance(second, list):
            continue
        good = [sum(all(flags) for flags in checks(text, [str(t) for t in themes])) for themes in (first, second)]
        better = "1" if good[0] > good[1] else "2" if good[1] > good[0] else "same"
        answered.append({"id": str(row.get("id", "")), "better": better})
    return json.dumps({PAIR_FIELD: answered}, ensure_ascii=False, separators=(",", ":")), len(answered)


def judge_text(user_text: str, pairwise: bool = False) -> tuple[str, int]:
    """The judge's answer text for a request's user turn, and the rows it judged."""
    if pairwise:
        return prefer_text(user_text)
    judged = []
    for row in payload_items(user_text, "rows"):
        themes = row.get("themes")
        if not isinstance(themes, list):
            continue
        judged.append({"n": row.get("n"), **verdict(str(row.get("text", "")), [str(t) for t in themes])})
    failing = [row for row in judged if row["failed"]]  # rows where everything passes are left out
    answer = {"rows_checked": len(judged), JUDGE_FIELD: failing}
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")), len(judged)
