"""Step 3: upsert every validated answer (and every failure) into Cloud Spanner."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.models import BatchResult, UpsertResult
from themegen.settings import Settings
from themegen.sink.spanner import SpannerSink


@task(name="upsert-themes", cache_policy=NO_CACHE)
async def upsert_themes(results: list[BatchResult], settings: Settings, flow_run_id: str | None) -> UpsertResult:
    records = [r for b in results for r in b.records]
    failures = [f for b in results for f in b.failures]
    sink = SpannerSink(settings)
    written = await asyncio.to_thread(sink.upsert, records, failures, flow_run_id)
    print(f"Spanner: {written.themes_written:,} theme rows, {written.failures_written:,} failures, "
          f"{written.commits} commits")
    return written
