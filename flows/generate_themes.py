"""generate_themes: six Gemini themes for every BigQuery row, upserted into Cloud Spanner.

Steps:
1. create_batches  - snapshot the source once; deterministic batch descriptors (batch_size rows)
2. generate_batch  - mapped over the batches (tag "gemini"): read the batch, call Gemini for every
                     row concurrently, validate six themes, record per-row failures
3. upsert_themes   - insert_or_update into Spanner, commits inside the mutation limit
4. publish_report  - Prefect artifacts: counts, tokens, failures with their batch ids, timings
"""

from __future__ import annotations

import time

from prefect import flow, runtime, unmapped
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.create_batches import create_batches
from tasks.generate_batch import collect_batch_results, generate_batch
from tasks.publish_report import publish_report
from tasks.upsert_themes import upsert_themes
from themegen.models import RunSummary
from themegen.settings import Settings


@flow(name="generate-themes", log_prints=True)
async def generate_themes(
    rows_limit: int | None = None,
    batch_size: int | None = None,
    max_parallel_batches: int | None = None,
    rpm: int | None = None,
    model: str | None = None,
) -> RunSummary:
    """Parameters left as None take their value from the THEMEGEN_* settings.

    rows_limit: only the first N rows by id (a trial run); None = every row.
    """
    started = time.monotonic()
    settings = Settings().with_overrides(
        batch_size=batch_size, max_parallel_batches=max_parallel_batches, rpm=rpm, model=model
    )
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    run_key = (flow_run_id or "adhoc").replace("-", "")

    plan = await create_batches(settings, run_key, rows_limit)

    with ThreadPoolTaskRunner(max_workers=settings.max_parallel_batches) as runner:
        futures = runner.map(generate_batch, {"batch": plan.batches, "settings": unmapped(settings)})
        results = collect_batch_results(plan.batches, futures)

    upsert = await upsert_themes(results, settings, flow_run_id)

    summary = await publish_report(plan, results, upsert, settings, time.monotonic() - started, flow_run_id)
    failed = sorted(r.batch_id for r in results if r.error)
    if failed:
        return Failed(message=f"{len(failed)} batches failed: {failed}. Retry the flow run to re-run them.",
                      data=summary)
    return summary
