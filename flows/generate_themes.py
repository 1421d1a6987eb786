"""generate_themes: six Gemini themes for every BigQuery row, upserted into Cloud Spanner.

Steps:
0. check_config    - source table/columns, Spanner tables and Gemini access, before any LLM call
   (estimate_run   - with estimate_only: rows, tokens, USD and time bound from a sample; then stop)
1. create_batches  - snapshot the source once; deterministic batch descriptors (batch_size rows,
                     by default 100 requests' worth)
2. generate_batch  - one task run per batch (tag "gemini"), max_parallel_batches at once (a shard its share):
                     read the batch, answer cached rows from the row cache, call Gemini for
                     the rest concurrently (rows_per_request rows per request), cache each
                     valid answer the moment it validates, record per-row failures; a per-day
                     quota refusal stops all sending and the run ends Failed, nothing lost
3. upsert_themes   - insert_or_update into Spanner (only rows that changed), inside the mutation limit;
                     runs alongside step 2 and commits as soon as a full commit of rows is ready
4. publish_report  - Prefect artifacts: counts, tokens, failures with their batch ids, rerun parameters
"""

from __future__ import annotations

import asyncio
import json
import time

from prefect import flow, runtime
from prefect.states import Failed
from prefect.utilities.annotations import quote

from blocks.themegen_config import resolve_settings
from tasks.check_config import check_config
from tasks.create_batches import create_batches
from tasks.estimate_run import estimate_run
from tasks.generate_batch import generate_batches
from tasks.publish_report import publish_report
from tasks.upsert_themes import upsert_themes
from themegen.estimate import Estimate
from themegen.models import RunSummary
from themegen.report import batch_rerun, rerun_batch_ids, stop_reason
from themegen.stream import BatchStream


@flow(name="generate-themes", log_prints=True)
async def generate_themes(
    rows_limit: int | None = None,
    batch_size: int | None = None,
    max_parallel_batches: int | None = None,
    rpm: int | None = None,
    rows_per_request: int | None = None,
    model: str | None = None,
    batch_ids: list[int] | None = None,
    only_failed: bool = False,
    config_block: str | None = None,
    estimate_only: bool = False,
    shard: int | None = None,
    shard_count: int = 1,
) -> RunSummary | Estimate:
    """Parameters left as None take their value from the ThemegenConfig block named by
    config_block (editable in the UI), else from the THEMEGEN_* settings.

    rows_limit: only the first N rows by id (a trial run); None = every row.
    rows_per_request: rows packed into one Gemini request (fewer requests and tokens per row).
    batch_ids: run only these batches (ids as listed in a previous run's report).
    only_failed: run only the rows listed in the ThemeFailures table.
    estimate_only: count rows and tokens on a sample and return the estimate; no generation.
    shard, shard_count: only the rows whose id hashes to shard `shard` of `shard_count` (one child
        run of generate_themes_sharded); rows_limit and batch_ids then apply within the shard.
    """
    started = time.monotonic()
    settings = await resolve_settings(
        config_block, batch_size=batch_size, max_parallel_batches=max_parallel_batches, rpm=rpm, model=model,
        rows_per_request=rows_per_request, quota_share=shard_count if shard is not None else None,
    )
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    run_key = (flow_run_id or "adhoc").replace("-", "")

    await check_config(settings)
    if estimate_only:
        return await estimate_run(settings, rows_limit)

    plan = await create_batches(settings, run_key, rows_limit, batch_ids, only_failed, shard, shard_count)

    # Steps 2 and 3 run together: each finished batch goes to the Spanner writer at once.
    finished = BatchStream()
    results, upsert = await asyncio.gather(
        generate_batches(plan.batches, settings, finished),
        upsert_themes(quote(finished), settings, flow_run_id),
    )

    # quote(): thousands of records need no scan for futures when passed to a task (Prefect would visit each).
    summary = await publish_report(plan, quote(results), upsert, settings, time.monotonic() - started, flow_run_id)
    if reason := stop_reason(results):
        return Failed(message=reason, data=summary)
    if failed := rerun_batch_ids(results):
        return Failed(message=f"batches {failed} did not finish (see the report); retry this flow run, or run "
                              f"with parameters {json.dumps(batch_rerun(failed, plan.batch_size))}", data=summary)
    return summary
