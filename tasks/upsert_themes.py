"""Step 3: upsert every validated answer (and every failure) into Cloud Spanner.

It runs alongside step 2 and writes batches as they finish (themegen/stream.py): a commit goes out
as soon as a full commit's worth of rows is ready, inside the mutation budget; the rest, and every
failure, when generation ends.
"""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.models import RowFailure, ThemeRecord, UpsertResult
from themegen.settings import Settings
from themegen.sink.spanner import SpannerSink
from themegen.stream import BatchStream


@task(name="upsert-themes", cache_policy=NO_CACHE)
async def upsert_themes(finished: BatchStream, settings: Settings, flow_run_id: str | None) -> UpsertResult:
    sink = SpannerSink(settings)
    commit_rows = sink.theme_rows_per_commit
    pending: list[ThemeRecord] = []
    failures: list[RowFailure] = []
    themes = 0
    async for batch in finished:
        pending += batch.records
        failures += batch.failures
        while len(pending) >= commit_rows:
            ready, pending = pending[:commit_rows], pending[commit_rows:]
            themes += await asyncio.to_thread(sink.write_changed, ready)
    themes += await asyncio.to_thread(sink.write_changed, pending)
    failed = await asyncio.to_thread(sink.write_failures, failures, flow_run_id)
    print(f"Spanner: {themes:,} theme rows, {failed:,} failures, {sink.commits} commits")
    return UpsertResult(themes_written=themes, failures_written=failed, commits=sink.commits)
