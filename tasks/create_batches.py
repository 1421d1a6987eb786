"""Step 1: snapshot the source once and cut it into deterministic batch descriptors."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.models import BatchPlan
from themegen.settings import Settings
from themegen.source.bigquery import BigQuerySource


@task(name="create-batches", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
async def create_batches(settings: Settings, run_key: str, row_limit: int | None = None) -> BatchPlan:
    source = BigQuerySource(settings)
    plan = await asyncio.to_thread(source.plan, run_key, settings.batch_size, row_limit)
    print(f"{plan.rows_total:,} rows in {len(plan.batches)} batches (snapshot {plan.snapshot_table})")
    return plan
