"""Two configurations side by side (pure): the pairwise question asked of the judge, its parser,
both orders combined into one outcome per row, and a sequential decision on the preference.

Each row's two sets of themes are shown in both orders (A first, then B first): a row counts for a
configuration only when both orders prefer it, so a judge's bias for the first (or second) position
turns into ties, not into a winner. The preference is A's share of the decided rows with a Wilson
interval; the answer is looked at every `look_rows` rows, at most `max_rows / look_rows` times, each
look at alpha / looks (Bonferroni), so stopping early as soon as the interval leaves 0.5 keeps the
overall chance of a false winner at most alpha."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from pydantic import BaseModel

from themegen.quality.rubric import InvalidVerdict, version_of
from themegen.quality.stats import wilson
from themegen.domain.answer_json import listed

PAIR_RUBRIC = (
    "You compare two sets of themes another model gave to the same text. For each row in the JSON input "
    "(id, text, first, second), answer which set labels the text better: themes the text supports, "
    "specific to this text, not repeating each other, in the text's language, together covering its main "
    "points. Answer \"1\" for first, \"2\" for second, \"same\" when neither is better. Copy each row's id "
    "exactly. Answer only with JSON that matches the response schema."
)
CHOICES = ("1", "2", "same")


class PreferenceSchema(BaseModel):
    id: str
    better: str


class PreferencesSchema(BaseModel):
    preferences: list[PreferenceSchema]


PAIR_JSON_SCHEMA = PreferencesSchema.model_json_schema()
PAIR_VERSION = version_of(PAIR_RUBRIC, PAIR_JSON_SCHEMA)


@dataclass(frozen=True)
class PairRow:
    id: str
    text: str
    first: tuple[str, ...]
    second: tuple[str, ...]


def pair_content(rows: Sequence[PairRow]) -> str:
    return json.dumps({"rows": [{"id": r.id, "text": r.text, "first": list(r.first), "second": list(r.second)}
                                for r in rows]}, ensure_ascii=False, separators=(",", ":"))


def parse_preferences(text: str | None, rows: Sequence[PairRow]) -> dict[str, str | InvalidVerdict]:
    if (items := listed(text, "preferences")) is None:
        reason = InvalidVerdict(f"the judge's answer is not the preferences JSON: {(text or '')[:80]!r}")
        return {r.id: reason for r in rows}
    by_id = {item.get("id"): item.get("better") for item in items if isinstance(item, dict)}
    return {r.id: by_id[r.id] if by_id.get(r.id) in CHOICES else InvalidVerdict(
        f"no usable preference for this row: {by_id.get(r.id)!r:.40}") for r in rows}


def combine(a_first: str, b_first: str) -> str:
    """'a', 'b' or 'tie' from the answers with A shown first and with B shown first."""
    if a_first == "1" and b_first == "2":
        return "a"
    if a_first == "2" and b_first == "1":
        return "b"
    return "tie"


def look_z(looks: int, alpha: float = 0.05) -> float:
    """The two-sided z of one of `looks` equal looks spending alpha in all (Bonferroni)."""
    return NormalDist().inv_cdf(1 - alpha / (2 * looks))


class Decision(BaseModel):
    a_wins: int
    b_wins: int
    ties: int
    share_a: float | None  # A's share of the decided rows
    low: float
    high: float
    winner: str | None  # "a", "b" or None (no clear difference yet, or none at all)


def decide(a_wins: int, b_wins: int, ties: int, z: float) -> Decision:
    decided = a_wins + b_wins
    low, high = wilson(a_wins, decided, z)
    winner = "a" if decided and low > 0.5 else "b" if decided and high < 0.5 else None
    return Decision(a_wins=a_wins, b_wins=b_wins, ties=ties, share_a=a_wins / decided if decided else None,
                    low=low, high=high, winner=winner)


def looks_for(max_rows: int, look_rows: int) -> int:
    return max(1, math.ceil(max_rows / look_rows))
