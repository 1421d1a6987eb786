"""The last estimate, kept where the next run finds it, so the run's report can set it beside what
the run really sent and cost (a Prefect variable: readable by every worker, shown in the UI).

It is matched by what decides the estimate: source table and filter, rows_limit, model, prompt and
packing. Another configuration's estimate is not compared; an estimate older than a run's rows is
only as good as the day it was made (its time is shown)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from prefect.variables import Variable
from pydantic import BaseModel

from themegen.config.settings import Settings
from themegen.domain.generation import Generation
from themegen.pricing.estimate import Estimate
from themegen.report.best_effort import best_effort

VARIABLE = "themegen_last_estimate"


class EstimateRecord(BaseModel):
    matches: str
    made_at: datetime
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float | None


def _matches(settings: Settings, rows_limit: int | None) -> str:
    generation = Generation.of(settings)
    decided_by = [settings.source_table, settings.bq.where, rows_limit, generation.model, generation.prompt_version,
                  generation.fingerprint, settings.rows_per_request, settings.sink]
    return hashlib.sha256(json.dumps(decided_by, default=str).encode()).hexdigest()[:16]


async def save_estimate(settings: Settings, rows_limit: int | None, estimate: Estimate) -> None:
    record = EstimateRecord(matches=_matches(settings, rows_limit), made_at=datetime.now(UTC), calls=estimate.calls,
                            input_tokens=estimate.input_tokens, output_tokens=estimate.output_tokens, usd=estimate.usd)
    await best_effort("estimate record", lambda: Variable.aset(VARIABLE, record.model_dump(mode="json"), overwrite=True))


async def load_estimate(settings: Settings, rows_limit: int | None) -> EstimateRecord | None:
    """The last estimate made for this configuration, if any."""
    value = await best_effort("estimate record", lambda: Variable.aget(VARIABLE))
    if not value:
        return None
    record = EstimateRecord.model_validate(value)
    return record if record.matches == _matches(settings, rows_limit) else None
