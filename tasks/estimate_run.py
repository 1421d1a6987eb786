"""Optional step: estimate rows, tokens, cost and time from a sample, without generating anything."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from themegen.report.best_effort import best_effort
from themegen.pricing.estimate import Estimate, estimate, format_estimate
from themegen.pricing.estimate_record import save_estimate
from themegen.config.settings import Settings


@task(name="estimate-run", cache_policy=NO_CACHE)
async def estimate_run(settings: Settings, rows_limit: int | None = None) -> Estimate:
    result = await estimate(settings, rows_limit=rows_limit)
    await save_estimate(settings, rows_limit, result)  # the run's report sets it beside what the run did
    text = format_estimate(result)
    print(text)
    await best_effort("estimate artifact", lambda: acreate_markdown_artifact(
        key="themegen-estimate", markdown=f"```\n{text}\n```", description="estimate before running"))
    return result
