"""Step 4: publish the run report as Prefect artifacts (markdown + tables), best effort."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.schedule_continuation import Continuation
from themegen.report.best_effort import best_effort
from themegen.pricing.cost import cost_usd, tier_cost_usd
from themegen.pricing.estimate_record import load_estimate
from themegen.domain.models import InferenceJobs, BatchPlan, RunSummary, UpsertResult
from themegen.quality.models import QualityReport
from themegen.report.quality import quality_markdown
from themegen.report.taxonomy import taxonomy_markdown
from themegen.taxonomy.models import TaxonomyReport
from themegen.report.tables import failure_table, markdown, summarize, summary_table
from themegen.config.settings import Settings
from themegen.tiers import tier_named
from themegen.report.tally import RunTally

# The report is the run's record for people: worth a few tries across a short Prefect API outage.
ATTEMPTS = 4


def environment(settings: Settings) -> str:
    return settings.stack or "GCP"


def environment_note(settings: Settings) -> str:
    """Say where the data came from and went to, so a simulated run never passes for a real one."""
    return " · ".join([
        f"Environment: **{environment(settings)}**",
        f"BigQuery: {settings.bq.api_endpoint or 'Google API'} ({settings.source_table})",
        f"Gemini: {settings.gemini.base_url or settings.gemini.backend}, model {settings.model}",
        f"Sink: {settings.sink} ({settings.sink_settings.table}, failures in {settings.sink_settings.failures_table})",
    ])


@task(name="publish-report", cache_policy=NO_CACHE)
async def publish_report(
    plan: BatchPlan,
    tally: RunTally,
    upsert: UpsertResult,
    settings: Settings,
    wall_seconds: float,
    flow_run_id: str | None,
    tier_choice: str = "",
    inference_jobs: InferenceJobs | None = None,
    rows_limit: int | None = None,
    quality: QualityReport | None = None,
    continuation: Continuation | None = None,
    taxonomy: TaxonomyReport | None = None,
) -> RunSummary:
    if inference_jobs is not None:  # the jobs' tokens, at the tier's price (the online ones count as fallback)
        tally.usage.input_tokens += inference_jobs.input_tokens
        tally.usage.output_tokens += inference_jobs.output_tokens
    report = summarize(plan, tally, upsert, wall_seconds, flow_run_id)
    report.backend_note = environment_note(settings)
    report.environment = environment(settings)
    report.rows_per_request = settings.rows_per_request
    report.failures_table = settings.sink_settings.failures_table
    report.tier_choice = tier_choice
    report.estimate = await load_estimate(settings, rows_limit)
    summary, tier = report.summary, tier_named(settings.tier)
    if continuation is not None:
        summary.continues_at, report.continuation = continuation.at.isoformat(), continuation.note
    summary.tier = tier.name
    summary.cost_usd_standard = cost_usd(settings.model, summary.input_tokens, summary.output_tokens,
                                         backend=settings.gemini.backend)
    usage = tally.usage
    summary.llm_calls_fallback = usage.fallback_calls
    if inference_jobs is not None:
        summary.inference_jobs, summary.batch_requests = inference_jobs.jobs, inference_jobs.requests
        summary.rows_answered_by_batch, summary.rows_left_by_batch = inference_jobs.rows_answered, inference_jobs.rows_left_online
        # The jobs' rows are in the sink before the batches run, which find them done: this run's, not earlier ones.
        summary.rows_already_done = max(0, summary.rows_already_done - inference_jobs.rows_answered)
        summary.batch_queued_seconds = round(inference_jobs.queued_seconds, 3)
        summary.batch_processing_seconds = round(inference_jobs.processing_seconds, 3)
    summary.cost_usd = tier_cost_usd(settings.model, summary.input_tokens, summary.output_tokens,
                                     price_factor=tier.price_factor, fallback_input_tokens=usage.fallback_input_tokens,
                                     fallback_output_tokens=usage.fallback_output_tokens, backend=settings.gemini.backend)
    if quality is not None:
        summary.quality = {r.check: [round(r.rate, 4), round(r.low, 4), round(r.high, 4)] for r in quality.rates}
    await best_effort("report artifact", lambda: acreate_markdown_artifact(
        key="themegen-report", markdown=markdown(report) + (
            "\n\n" + quality_markdown(quality, summary.cost_usd, report.environment) if quality else "") + (
            "\n\n" + taxonomy_markdown(taxonomy, summary.cost_usd, report.environment) if taxonomy else ""),
        description="themegen run report"), ATTEMPTS)
    await best_effort("summary artifact", lambda: acreate_table_artifact(
        key="themegen-summary", table=summary_table(report), description="run numbers"), ATTEMPTS)
    if table := failure_table(report):
        await best_effort("failures artifact", lambda: acreate_table_artifact(
            key="themegen-failures", table=table, description="failures by reason, with examples"), ATTEMPTS)
    return report.summary
