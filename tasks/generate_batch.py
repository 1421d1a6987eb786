"""Step 2 (mapped): read one batch and ask Gemini for every row of it concurrently."""

from __future__ import annotations

import asyncio
import time

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from themegen.batch import theme_rows
from themegen.cache import open_cache
from themegen.generator.client import close_clients
from themegen.generator.gemini import GeminiGenerator
from themegen.generator.stop import DailyQuotaStop
from themegen.limiter import GEMINI_TAG
from themegen.models import BatchDescriptor, BatchResult, RowFailure, ThemeRecord
from themegen.progress import RunProgress
from themegen.settings import Settings
from themegen.source.bigquery import BigQuerySource
from themegen.stream import BatchStream



@task(
    name="generate-batch",
    tags=[GEMINI_TAG],
    task_run_name="batch-{batch.batch_id}",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=10,
)
async def generate_batch(batch: BatchDescriptor, settings: Settings, stop: DailyQuotaStop | None = None) -> BatchResult:
    started = time.monotonic()
    rows = await asyncio.to_thread(BigQuerySource(settings).read_batch, batch)
    generator = GeminiGenerator(settings, stop)
    outcomes = await theme_rows(rows, batch.batch_id, await open_cache(settings), generator, settings)
    return BatchResult(
        batch_id=batch.batch_id,
        rows=len(rows),
        records=[o.result for o in outcomes if isinstance(o.result, ThemeRecord)],
        failures=[o.result for o in outcomes if isinstance(o.result, RowFailure)],
        usage=generator.usage,
        cached=sum(o.cached for o in outcomes),
        seconds=round(time.monotonic() - started, 3),
        stopped=generator.stop.reason,
    )


def batches_at_once(settings: Settings) -> int:
    """Batch tasks one process runs at once (pure): its share of max_parallel_batches.

    max_parallel_batches is also the "gemini" tag limit all flow runs share (`limits apply`), and
    each running batch holds a slot of it. A shard opening all of them would be refused slots the
    other shards hold, and Prefect queues a process's slot requests behind a refused one. Fewer
    batches per process is no cure on its own: measured at zero latency (SQLite Prefect server), a
    process limited to the batches its open requests need (8 of 100 rows) reached 120 rows/s
    against 196 with 50, since every batch's task start and end leave the request pipe idle.
    """
    return max(1, settings.max_parallel_batches // settings.quota_share)


async def generate_batches(batches: list[BatchDescriptor], settings: Settings,
                           finished: BatchStream | None = None) -> list[BatchResult]:
    """Run generate_batch once per batch, `batches_at_once` at a time, on this event loop.

    Why not `generate_batch.map()`: the thread-pool runner gives every task run its own thread and
    event loop, so each batch opens a fresh HTTP session and ~100 connections and 50 threads fight
    for the GIL; on one loop the rows of all batches share one client and its keep-alive
    connections. Each batch is still its own task run, with the "gemini" tag and its limit.

    A batch whose task failed becomes a BatchResult carrying the error, so the run goes on, the
    report names it, and its rows can be re-run. After a per-day quota refusal (generator/stop.py)
    batches not yet started are not started: they are reported with the reason, for a rerun.
    Each result also goes to `finished` as soon as it exists, for the Spanner writer.
    """
    gate = asyncio.Semaphore(batches_at_once(settings))
    stop = DailyQuotaStop()
    progress = RunProgress(sum(b.row_count for b in batches))
    await progress.start()

    async def run(batch: BatchDescriptor) -> BatchResult:
        async with gate:
            if stop.tripped:
                await progress.batch_done(batch.row_count)
                return BatchResult(batch_id=batch.batch_id, rows=batch.row_count, error=f"not started: {stop.reason}",
                                   stopped=stop.reason)
            # quote(): Prefect need not scan the settings for futures on each of hundreds of task runs.
            state = await generate_batch(batch, quote(settings), quote(stop), return_state=True)
        if state.is_completed():
            result = await state.aresult()
        else:
            error = await state.aresult(raise_on_failure=False)
            result = BatchResult(batch_id=batch.batch_id, rows=batch.row_count, error=f"{state.name}: {error}")
        if finished:
            finished.put(result)
        await progress.batch_done(batch.row_count)
        return result

    try:
        return list(await asyncio.gather(*(run(b) for b in batches)))
    finally:
        if finished:
            finished.close()
        await close_clients()
