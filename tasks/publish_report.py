"""Step 4: publish the run report as Prefect artifacts (markdown + tables)."""

from __future__ import annotations

import os

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from themegen.cost import cost_usd
from themegen.models import BatchPlan, BatchResult, RunSummary, UpsertResult
from themegen.report import failure_table, markdown, summarize, summary_table
from themegen.settings import Settings


def environment_note(settings: Settings) -> str:
    """Say where the data came from and went to, so a simulated run never passes for a real one."""
    gemini = settings.gemini_base_url or f"Gemini ({settings.gemini_backend})"
    spanner = os.environ.get("SPANNER_EMULATOR_HOST")
    parts = [
        f"Environment: **{settings.stack or 'GCP'}**",
        f"BigQuery: {settings.bq_api_endpoint or 'Google API'} ({settings.source_table})",
        f"Gemini: {gemini}, model {settings.model}",
        f"Spanner: {'emulator at ' + spanner if spanner else 'Cloud Spanner'} "
        f"({settings.spanner_instance}/{settings.spanner_database})",
    ]
    return " · ".join(parts)


@task(name="publish-report", cache_policy=NO_CACHE)
async def publish_report(
    plan: BatchPlan,
    results: list[BatchResult],
    upsert: UpsertResult,
    settings: Settings,
    wall_seconds: float,
    flow_run_id: str | None,
) -> RunSummary:
    report = summarize(plan, results, upsert, wall_seconds, flow_run_id)
    report.backend_note = environment_note(settings)
    report.rows_per_request = settings.rows_per_request
    report.cost_usd = cost_usd(settings.model, report.summary.input_tokens, report.summary.output_tokens,
                               backend=settings.gemini_backend)
    await acreate_markdown_artifact(key="themegen-report", markdown=markdown(report), description="themegen run report")
    await acreate_table_artifact(key="themegen-summary", table=summary_table(report), description="run numbers")
    if report.failures or report.failed_batches:
        await acreate_table_artifact(
            key="themegen-failures", table=failure_table(report), description="failed rows with their batch ids"
        )
    return report.summary
