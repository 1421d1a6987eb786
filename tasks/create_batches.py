"""Step 1: snapshot the source once and cut it into deterministic batch descriptors."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.domain.models import BatchPlan
from themegen.config.settings import Settings
from themegen.source import SourceConfigError, open_source


async def _worth_retrying(task, task_run, state) -> bool:
    """Retry BigQuery hiccups, not a wrong batch id or a wrong table: those fail the same way again.

    Async on purpose: the async task engine calls this inside its event loop, where the sync
    `state.result()` would return an un-awaited coroutine instead of raising (so nothing retried)."""
    error = await state.aresult(raise_on_failure=False)
    return not isinstance(error, (ValueError, SourceConfigError))


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
    plan = await asyncio.to_thread(source.plan, run_key, settings.rows_per_batch, row_limit, shard, shard_count,
                                    settings.max_batches_per_run)
    if batch_ids is not None:
        wanted = set(batch_ids)
        unknown = wanted - {b.batch_id for b in plan.batches}
        if unknown:
            raise ValueError(f"batch_ids {sorted(unknown)} do not exist: this run has batches 0..{len(plan.batches) - 1}")
        plan.batches = [b for b in plan.batches if b.batch_id in wanted]
        plan.rows_total = sum(b.row_count for b in plan.batches)
    scope = f" (shard {shard} of {shard_count})" if shard is not None else ""
    print(f"{plan.rows_total:,} rows in {len(plan.batches)} batches{scope} (snapshot {plan.snapshot_table})")
    if plan.duplicate_ids:
        print(f"WARNING: {len(plan.duplicate_ids)} ids occur more than once in the source; each is processed once: "
              f"{plan.duplicate_ids[:10]}")
    if plan.rows_without_id:
        print(f"WARNING: {plan.rows_without_id:,} source rows have a NULL or empty {settings.bq.id_column}: they are "
              f"skipped (a row needs an id to be stored); give them ids in {settings.source_table}")
    return plan
