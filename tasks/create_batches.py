"""Step 1: snapshot the source's rows that have work once (the done record leaves out what the sink holds)
and cut them into deterministic batch descriptors; say how many rows are left to theme."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.domain.models import BatchPlan
from themegen.config.settings import Settings
from themegen.domain.generation import Generation
from themegen.report.tables import rows_to_theme
from themegen.sink import Writes, open_sink
from themegen.source import DoneEntry, SourceConfigError, open_source

DELETE_CHUNK = 1_000  # ids per sink delete
# A source that lost more than this share of the sink's rows is more likely a wrong table than deletions.
GONE_DELETE_MAX_SHARE = 0.1
RECORD_SAMPLE = 200  # rows the done record calls done, checked against the sink before the record is used


async def _worth_retrying(task, task_run, state) -> bool:
    """Retry BigQuery hiccups, not a wrong batch id or a wrong table: those fail the same way again.

    Async on purpose: the async task engine calls this inside its event loop, where the sync
    `state.result()` would return an un-awaited coroutine instead of raising (so nothing retried)."""
    error = await state.aresult(raise_on_failure=False)
    return not isinstance(error, (ValueError, SourceConfigError))


async def _record_holds(source, settings: Settings) -> bool:
    """Whether the sink holds a sample of the rows the done record calls done (a different few each run).
    One missing: the sink changed behind the record's back (emptied, restored, rows deleted), so this
    run ignores the record, reads every row and checks it against the sink, which rewrites the record."""
    if not settings.bq.done_record:
        return False
    sample = await asyncio.to_thread(source.done_sample, RECORD_SAMPLE)
    if not sample:
        return True
    generation = Generation.of(settings)
    sink = open_sink(settings)
    try:
        stored = await sink.stored(sorted(sample))
    finally:
        sink.close()
    missing = [i for i, digest in sample.items() if stored.themes.get(i) != generation.stamp(digest)]
    if missing:
        print(f"WARNING: the done record calls {len(missing)} of {len(sample)} sampled rows done that {sink.description} "
              f"does not hold as such (e.g. {missing[:3]}): this run checks every row against the sink and repairs "
              "the record")
    return not missing


async def _gone(plan: BatchPlan, settings: Settings, shard: int | None, shard_count: int, source) -> None:
    """Rows the sink holds whose id left the source: said, and deleted from the sink when
    THEMEGEN_DELETE_GONE_ROWS is on (then recorded as gone, so the next run does not find them again)."""
    print(f"{plan.rows_gone:,} rows in the sink are no longer in {settings.source_table}, e.g. {plan.gone_examples}"
          + ("" if settings.delete_gone_rows else "; set THEMEGEN_DELETE_GONE_ROWS=true to delete them from the sink"))
    if not settings.delete_gone_rows:
        return
    held = plan.rows_gone + plan.rows_done_earlier + plan.rows_failed_earlier + plan.rows_total
    if plan.rows_gone > GONE_DELETE_MAX_SHARE * held:
        print(f"WARNING: not deleting them: {plan.rows_gone:,} of {held:,} rows would go, more than "
              f"{GONE_DELETE_MAX_SHARE:.0%}; check THEMEGEN_BQ_TABLE and THEMEGEN_BQ_WHERE (a wrong or emptied source "
              "table?), or delete them from the sink yourself")
        return
    ids = await asyncio.to_thread(source.gone_ids, shard, shard_count)
    sink = open_sink(settings)
    try:
        for i in range(0, len(ids), DELETE_CHUNK):
            chunk = ids[i:i + DELETE_CHUNK]
            await sink.write(Writes(delete_themes=chunk, delete_failures=chunk), None)
            await asyncio.to_thread(source.record, [DoneEntry(row_id, "", "gone") for row_id in chunk])
    finally:
        sink.close()
    print(f"deleted {len(ids):,} rows that left the source from {sink.description}")


@task(name="create-batches", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5,
      retry_condition_fn=_worth_retrying)
async def create_batches(
    settings: Settings,
    run_key: str,
    row_limit: int | None = None,
    batch_ids: list[int] | None = None,
    shard: int | None = None,
    shard_count: int = 1,
) -> BatchPlan:
    """batch_ids keeps only those batches; shard keeps only that shard of shard_count (batch ids then
    count within the shard)."""
    if row_limit is not None and row_limit < 1:
        raise ValueError(f"rows_limit={row_limit}: give a number of rows of at least 1, or leave it empty for every row")
    source = open_source(settings)
    # batch_ids name batches of the whole table's layout (README, "Nightly runs"): those runs read every row.
    trusted = batch_ids is None and await _record_holds(source, settings)
    plan = await asyncio.to_thread(source.plan, run_key, settings.rows_per_batch, row_limit, shard, shard_count,
                                    settings.max_batches_per_run, trusted)
    if batch_ids is not None:
        wanted = set(batch_ids)
        unknown = wanted - {b.batch_id for b in plan.batches}
        if unknown:
            raise ValueError(f"batch_ids {sorted(unknown)} do not exist: this run has batches 0..{len(plan.batches) - 1}")
        plan.batches = [b for b in plan.batches if b.batch_id in wanted]
        plan.rows_total = sum(b.row_count for b in plan.batches)
    scope = f" (shard {shard} of {shard_count})" if shard is not None else ""
    print(rows_to_theme(plan.rows_total, plan.rows_done_earlier, plan.rows_failed_earlier) + (f" in {len(plan.batches)} batches{scope} (snapshot {plan.snapshot_table})"
                                 if plan.batches else scope))
    if plan.rows_gone:
        await _gone(plan, settings, shard, shard_count, source)
    if plan.duplicate_ids:
        print(f"WARNING: {len(plan.duplicate_ids)} ids occur more than once in the source; each is processed once: "
              f"{plan.duplicate_ids[:10]}")
    if plan.rows_without_id:
        print(f"WARNING: {plan.rows_without_id:,} source rows have a NULL or empty {settings.bq.id_column}: they are "
              f"skipped (a row needs an id to be stored); give them ids in {settings.source_table}")
    return plan
