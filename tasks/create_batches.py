"""Step 1: snapshot the source once and cut it into deterministic batch descriptors."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.models import BatchPlan
from themegen.settings import Settings
from themegen.sink.spanner import SpannerSink
from themegen.source.bigquery import BigQuerySource, SourceConfigError


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
    only_failed: bool = False,
    shard: int | None = None,
    shard_count: int = 1,
) -> BatchPlan:
    """batch_ids keeps only those batches; only_failed restricts the run to the ids in ThemeFailures;
    shard keeps only that shard of shard_count (batch ids then count within the shard)."""
    only_ids = await asyncio.to_thread(SpannerSink(settings).failed_source_ids) if only_failed else None
    plan = await asyncio.to_thread(BigQuerySource(settings).plan, run_key, settings.rows_per_batch, row_limit,
                                    only_ids, shard, shard_count)
    if batch_ids is not None:
        wanted = set(batch_ids)
        unknown = wanted - {b.batch_id for b in plan.batches}
        if unknown:
            raise ValueError(f"batch_ids {sorted(unknown)} do not exist: this run has batches 0..{len(plan.batches) - 1}")
        plan.batches = [b for b in plan.batches if b.batch_id in wanted]
        plan.rows_total = sum(b.row_count for b in plan.batches)
    scope = f" ({len(only_ids)} ids from ThemeFailures)" if only_ids is not None else ""
    if shard is not None:
        scope += f" (shard {shard} of {shard_count})"
    print(f"{plan.rows_total:,} rows in {len(plan.batches)} batches{scope} (snapshot {plan.snapshot_table})")
    if plan.duplicate_ids:
        print(f"WARNING: {len(plan.duplicate_ids)} ids occur more than once in the source; each is processed once: "
              f"{plan.duplicate_ids[:10]}")
    return plan
