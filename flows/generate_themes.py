"""generate_themes: six Gemini themes for every BigQuery row, upserted into Cloud Spanner.

Steps:
0. check_config    - source table/columns/filter, Spanner tables and Gemini access, before any LLM call
   (estimate_run   - with estimate_only: rows, tokens, USD and time bound from a sample; then stop)
1. create_batches  - snapshot the rows with work once (the done record in BigQuery leaves out rows the sink
                     holds for their current text, model and prompt); deterministic batch descriptors
                     (batch_size rows, by default 100 requests' worth); with THEMEGEN_RPD, as many rows
                     per request as the day needs (fit_day)
1b. run_inference_job  - tier batch only: the rows left to answer go out as asynchronous jobs within the
                     backend's per-job limits, at the batch price, or a Retry/rerun attaches to the jobs
                     they went to; their valid answers are written to the sink (the batches below find
                     those rows done)
2. generate_batch  - one task run per batch, max_parallel_batches at once (a shard its share; at most
                     max_rows_in_flight rows), each holding a "gemini" slot while it sends:
                     skip rows Spanner already holds for this input/model/prompt, answer the rest from
                     the row cache or Gemini (each answer cached as it validates), and write the batch's
                     themes and failures to Spanner before the task ends; the flow keeps counters only.
                     A per-day quota refusal or a Spanner outage stops all sending; nothing is lost
3. upsert_themes   - the final upsert: batches that could not write their rows are written from the cache
3b. judge_quality  - a seeded sample of the run's themes rated by a judge model (grounded, specific, distinct,
                     language, cover): judgements in the sink, rates as a Prefect event; never fails the run
3c. build_taxonomy  - the sink's distinct themes embedded, clustered into canonical themes and groups (stable
                     ids across runs; only new themes are embedded, only new clusters named), each theme
                     mapped to one, rows per canonical theme counted in the sink; never fails the run
                     (a shard leaves it to generate-themes-sharded, which builds it once after its shards)
3d. schedule_continuation - a run stopped by the day's quota (a per-day refusal or THEMEGEN_RPD) schedules
                     its continuation at the quota's reset: a flow run of its deployment, same parameters
4. publish_report  - Prefect artifacts: counts, failures by reason with examples, tokens, cost, rerun parameters,
                     the quality section, the top canonical themes

A Retry in the UI, a new run and a batch_ids run all do the same: rows already done cost nothing,
unfinished rows (never answered, transient failures, changed input/prompt/model) are sent again.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from prefect import flow, runtime
from prefect.states import Failed
from prefect.utilities.annotations import quote

from blocks.themegen_config import resolve_settings
from tasks.check_config import check_config
from tasks.create_batches import create_batches
from tasks.estimate_run import estimate_run
from tasks.generate_batch import generate_batches
from tasks.build_taxonomy import build_taxonomy
from tasks.judge_quality import judge_quality
from tasks.publish_report import publish_report
from tasks.run_inference_job import cancel_inference_jobs, run_inference_job
from tasks.schedule_continuation import schedule_continuation
from tasks.upsert_themes import upsert_themes
from themegen.pricing.estimate import Estimate
from themegen.pricing.estimate_days import fit_day
from themegen.domain.models import RunSummary
from themegen.report.tables import MAX_BATCH_IDS_SHOWN, batch_rerun
from themegen.runtime.guard import guard_run
from themegen.tiers import AUTO, TierChoice, tier_named, usable
from themegen.tiers.choose import deadline_at, resolve_tier, workload_for


@flow(name="generate-themes", log_prints=True, on_cancellation=[cancel_inference_jobs])
async def generate_themes(
    rows_limit: int | None = None,
    batch_size: int | None = None,
    max_parallel_batches: int | None = None,
    rpm: int | None = None,
    rows_per_request: int | None = None,
    model: str | None = None,
    batch_ids: list[int] | None = None,
    retry_failed: bool = False,
    config_block: str | None = None,
    estimate_only: bool = False,
    shard: int | None = None,
    shard_count: int = 1,
    concurrent_shards: int | None = None,
    tier: TierChoice | None = None,
    deadline: str | None = None,
) -> RunSummary | Estimate:
    """Parameters left as None take their value from the ThemegenConfig block named by
    config_block (editable in the UI), else from the THEMEGEN_* settings.

    rows_limit: only the first N rows by id (a trial run, N >= 1); None = every row.
    rows_per_request: rows packed into one Gemini request (fewer requests and tokens per row).
    batch_ids: run only these batches (ids as listed in a previous run's report, with its batch_size).
    retry_failed: send rows again whose answer was declined or invalid (recorded, not re-sent by default).
    estimate_only: count rows and tokens on a sample and return the estimate; no generation.
    shard, shard_count: only the rows whose id hashes to shard `shard` of `shard_count` (one child
        run of generate_themes_sharded); rows_limit and batch_ids then apply within the shard.
    concurrent_shards: shards running at the same time, which split the quota (default shard_count).
    tier: standard, flex (half price, best effort), batch (half price, within 24 h) or auto: the
        cheapest tier expected to finish within `deadline` (e.g. 90m, 2h, 1d), chosen once the rows are counted.
    """
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    settings = await resolve_settings(
        config_block, batch_size=batch_size, max_parallel_batches=max_parallel_batches, rpm=rpm, model=model,
        rows_per_request=rows_per_request,
        quota_share=(concurrent_shards or shard_count) if shard is not None else None,
        retry_failed=retry_failed or None, tier=tier, deadline=deadline,
    )
    guard_run(settings)  # the Prefect API gone for good, or a SIGTERM: the process still ends (README, outages)
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    run_key = (flow_run_id or "adhoc").replace("-", "")

    await check_config(settings)
    if estimate_only:
        return await estimate_run(settings, rows_limit)
    if settings.tier != AUTO:
        usable(tier_named(settings.tier))  # before the snapshot: nothing is read for a tier that cannot run

    plan = await create_batches(settings, run_key, rows_limit, batch_ids, shard, shard_count)
    choice = resolve_tier(settings, workload_for(settings, plan.rows_total))
    print(f"tier {choice.tier.name}: {choice.why}")
    settings = settings.with_overrides(tier=usable(choice.tier).name, deadline_at=deadline_at(settings, started_at))
    settings = fit_day(settings, plan.rows_total)  # THEMEGEN_RPD: more rows per request when the day needs it
    # Tier batch: jobs at the batch price write their rows to the sink; the batches find them done.
    jobs = None if choice.tier.synchronous else await run_inference_job(plan, settings, flow_run_id)
    tally = await generate_batches(plan.batches, settings, flow_run_id)
    # quote(): the tally is handed over as it is (the final upsert adds what it writes to it).
    upsert = await upsert_themes(quote(plan), quote(tally), settings, flow_run_id)
    quality = await judge_quality(quote(plan), settings, flow_run_id, tally.stop_reason)
    taxonomy = await build_taxonomy(settings, tally.stop_reason, shard)
    continuation = await schedule_continuation(tally.stop_reason, settings)
    summary = await publish_report(quote(plan), quote(tally), upsert, settings, time.monotonic() - started, flow_run_id,
                                   choice.why, jobs, rows_limit, quality, continuation, taxonomy)

    unwritten = f" The final upsert could not finish: {upsert.error}" if upsert.error else ""
    if tally.stop_reason:
        return Failed(message=tally.stop_reason + unwritten + (continuation.message if continuation else ""),
                      data=summary)
    if failed := sorted(tally.rerun_batches):
        how = (f"or run with parameters {json.dumps(batch_rerun(failed, plan.batch_size))}"
               if len(failed) <= MAX_BATCH_IDS_SHOWN and plan.full_layout else "or run it again")
        return Failed(message=f"{len(failed)} batches have unfinished rows (see the report's failures by reason); "
                              f"retry this flow run {how}: only unfinished rows are sent.{unwritten}", data=summary)
    return summary
