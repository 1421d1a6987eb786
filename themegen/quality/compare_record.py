"""The last comparisons, kept where `themegen estimate --compare-*` finds them (a Prefect variable:
readable by every worker, shown in the UI), so the price of two configurations is shown beside what a
comparison of them found, without paying for another. A configuration is its model and prompt
fingerprint (what decides its themes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prefect.variables import Variable
from pydantic import BaseModel

from themegen.config.settings import Settings
from themegen.domain.generation import Generation
from themegen.report.best_effort import best_effort

if TYPE_CHECKING:
    from themegen.quality.comparing import Comparison

VARIABLE = "themegen_last_comparisons"
VALUE_CHARS = 5_000  # a Prefect variable's value holds at most this much JSON: the oldest records go first


class CompareRecord(BaseModel):
    a: str
    b: str
    made_at: datetime
    rows_compared: int
    winner: str | None  # "a", "b" or None (no clear difference)
    advice: str

    def of(self, x: str, y: str) -> bool:
        return {self.a, self.b} == {x, y}


def configuration(settings: Settings) -> str:
    generation = Generation.of(settings)
    return f"{generation.model}/{generation.fingerprint}"


async def _records() -> list[CompareRecord]:
    value = await best_effort("comparison record", lambda: Variable.aget(VARIABLE))
    return [CompareRecord.model_validate(v) for v in value or []]


async def save_comparison(settings_a: Settings, settings_b: Settings, comparison: Comparison) -> None:
    a, b = configuration(settings_a), configuration(settings_b)
    record = CompareRecord(a=a, b=b, made_at=datetime.now(UTC), rows_compared=comparison.rows_compared,
                           winner=comparison.decision.winner if comparison.decision else None, advice=comparison.advice)
    kept = [record.model_dump(mode="json")] + [r.model_dump(mode="json") for r in await _records() if not r.of(a, b)]
    while len(kept) > 1 and len(json.dumps(kept)) >= VALUE_CHARS:
        kept.pop()
    await best_effort("comparison record", lambda: Variable.aset(VARIABLE, kept, overwrite=True))


async def load_comparison(settings_x: Settings, settings_y: Settings) -> CompareRecord | None:
    """The newest comparison of these two configurations (in either order), if one was made."""
    x, y = configuration(settings_x), configuration(settings_y)
    return next((r for r in await _records() if r.of(x, y)), None)
