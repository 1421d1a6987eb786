"""Step 2 (mapped): settle one batch (themegen/pipeline/settle.py): read its rows, skip what is done, answer
the rest from the row cache or Gemini, write the batch's outcome to Spanner. A batch holds a slot of
the `gemini` tag limit from its first Gemini request to its end (themegen/limiter/batch_slot.py)."""

from __future__ import annotations

import asyncio
import logging

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.context import TaskRunContext
from prefect.utilities.annotations import quote

from themegen.pipeline.settle import settle_batch
from themegen.pipeline.edges import Edges, open_edges
from themegen.llm.gemini.client import close_clients
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.limiter import BatchSlot, slot_pool
from themegen.domain.models import BatchDescriptor, BatchResult
from themegen.report.progress import RunProgress
from themegen.config.settings import Settings
from themegen.report.tally import RunTally
from themegen.runtime.gc_pause import fewer_collections
from themegen.runtime.watchdog import in_flight

log = logging.getLogger(__name__)


# No "gemini" tag: Prefect would take the tag limit's slot for every task run, Gemini or not, one
# request at a time per process (themegen/limiter/batch_slot.py); the batch takes it itself.
@task(
    name="generate-batch",
    task_run_name="batch-{batch.batch_id}",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=10,
)
async def generate_batch(batch: BatchDescriptor, run: Edges) -> BatchResult:
    # Made first: while the batch may still ask, its process keeps an idle slot for it.
    slot = BatchSlot(holder=_holder(), stopped=lambda: run.stop.tripped)
    # In flight until its rows are written: the watchdog on the Prefect API waits for it.
    with in_flight() as flight:
        try:
            rows = await asyncio.to_thread(run.source.read_batch, batch)
            generator = GeminiGenerator(run.settings, run.stop, before_sending=slot.take, policy=run.policy)
            result = await settle_batch(rows, batch.batch_id, run, generator)
        finally:
            slot.release()
        flight.unwritten = bool(result.not_written or result.write_error)
    # Handed over before the task ends: if the Prefect API cannot take this task's final state,
    # the flow still counts what the batch did (its rows are already in Spanner).
    run.finished[batch.batch_id] = result
    return result


def _holder() -> ConcurrencyLeaseHolder | None:
    """This flow run, as the holder of the slots it takes (a slot passes from batch to batch)."""
    context = TaskRunContext.get()
    flow_run_id = context.task_run.flow_run_id if context else None
    return ConcurrencyLeaseHolder(type="flow_run", id=flow_run_id) if flow_run_id else None


def batches_at_once(settings: Settings, batch_rows: int) -> int:
    """Batch tasks one process runs at once (pure): its share of max_parallel_batches, and no more
    than max_rows_in_flight rows in all (at least one batch).

    max_parallel_batches is also the "gemini" tag limit all flow runs share (`limits apply`), and
    each batch sending to Gemini holds a slot of it. A shard opening all of them would be refused
    slots the other shards hold, and its refused batches would sit waiting for one. Fewer batches
    per process is no cure on its own: every batch's task start and end leave the request pipe idle
    (README, "Throughput"). The rows cap keeps the process's memory flat as batches grow with the
    table (batch_layout): 50 batches of 5,000 rows would hold 250,000 rows at once.
    """
    by_rows = settings.max_rows_in_flight // max(1, batch_rows)
    return max(1, min(settings.max_parallel_batches // settings.quota_share, by_rows))


async def generate_batches(batches: list[BatchDescriptor], settings: Settings, flow_run_id: str | None) -> RunTally:
    """Run generate_batch once per batch, `batches_at_once` at a time, on this event loop; return
    the run's tally (counters, not rows).

    Why not `generate_batch.map()`: the thread-pool runner gives every task run its own thread and
    event loop, so each batch opens a fresh HTTP session and ~100 connections and 50 threads fight
    for the GIL; on one loop the rows of all batches share one client and its keep-alive
    connections. Each batch is still its own task run, and holds a slot of the "gemini" tag limit
    while it sends to Gemini.

    A batch whose task failed is counted with its error, so the run goes on, the report names it,
    and the final upsert writes what its rows got. Once the run has stopped (per-day quota, Spanner
    down) batches not yet started are not started.
    """
    with fewer_collections():
        return await _generate(batches, settings, flow_run_id)


async def _generate(batches: list[BatchDescriptor], settings: Settings, flow_run_id: str | None) -> RunTally:
    gate = asyncio.Semaphore(batches_at_once(settings, max((b.row_count for b in batches), default=1)))
    tally = RunTally()
    progress = RunProgress(sum(b.row_count for b in batches))
    await progress.start()

    async with open_edges(settings, flow_run_id) as run:
        async def one(batch: BatchDescriptor) -> None:
            async with gate:
                if run.stop.tripped:
                    result = BatchResult(batch_id=batch.batch_id, rows=batch.row_count, not_started=True,
                                         error=f"not started: {run.stop.reason}")
                else:
                    result = await _run_task(batch, run)
            tally.add(result)
            await progress.batch_done(batch.row_count, result)

        try:
            await asyncio.gather(*(one(b) for b in batches))
            await progress.finish()
        finally:
            tally.stop_reason = run.stop.reason
            await slot_pool().close()  # the slots kept for a next batch: there is none
            await close_clients()
    return tally


async def _run_task(batch: BatchDescriptor, run: Edges) -> BatchResult:
    """The batch's result, also when Prefect could not record the task run (API down)."""
    try:
        # quote(): Prefect need not scan the run's edges for futures on each of many task runs.
        state = await generate_batch(batch, quote(run), return_state=True)
        error = None if state.is_completed() else f"{state.name}: {await state.aresult(raise_on_failure=False)}"
    except Exception as exc:  # noqa: BLE001 - e.g. the Prefect API unreachable when the task run starts
        log.warning("batch %s: task run could not be orchestrated: %s", batch.batch_id, exc)
        error = f"{type(exc).__name__}: {exc}"
    if (result := run.finished.pop(batch.batch_id, None)) is not None:
        return result
    return BatchResult(batch_id=batch.batch_id, rows=batch.row_count, error=error or "no result")
