"""Step 3: make the run complete in Spanner.

Each batch writes its own rows before it ends (step 2), so in a healthy run there is nothing left
to do here. A batch that could not write (Spanner down, the task crashed after answering) left its
answers in the row cache: this step settles those batches again without Gemini and writes what the
cache holds. If Spanner is still down it says so, once, naming it; the answers stay in the cache.
"""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.pipeline.settle import settle_batch
from themegen.pipeline.edges import open_edges
from themegen.domain.models import BatchPlan, UpsertResult
from themegen.config.settings import Settings
from themegen.report.tally import RunTally
from themegen.runtime.watchdog import in_flight


@task(name="upsert-themes", cache_policy=NO_CACHE)
async def upsert_themes(plan: BatchPlan, tally: RunTally, settings: Settings, flow_run_id: str | None) -> UpsertResult:
    batches = [b for b in plan.batches if b.batch_id in tally.unwritten_batches]
    if not batches:
        return UpsertResult()
    result = UpsertResult(batches=len(batches))
    async with open_edges(settings, flow_run_id) as edges:
        for batch in batches:
            try:
                rows = await asyncio.to_thread(edges.source.read_batch, batch)
            except Exception as exc:  # noqa: BLE001 - reported; the rows stay in the cache for a rerun
                result.error = f"batch {batch.batch_id} could not be read again: {type(exc).__name__}: {exc}"
                break
            with in_flight() as flight:  # the watchdog on the Prefect API waits for this write too
                settled = await settle_batch(rows, batch.batch_id, edges, generator=None)
                flight.unwritten = bool(settled.error or settled.write_error)
            if settled.error or settled.write_error:
                result.error = settled.error or settled.write_error
                break
            result.themes_written += settled.written
            tally.settled_later(settled)
    print(f"Final upsert: {result.themes_written:,} theme rows of {len(batches)} batches written from the row cache"
          + (f"; stopped: {result.error}" if result.error else ""))
    return result
