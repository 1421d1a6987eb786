"""Step 2 (mapped): read one batch and ask Gemini for every row of it concurrently."""

from __future__ import annotations

import asyncio
import time

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait

from themegen.batch import theme_rows
from themegen.cache.row_cache import RowCache
from themegen.generator.gemini import GeminiGenerator
from themegen.models import BatchDescriptor, BatchResult, RowFailure, ThemeRecord
from themegen.settings import Settings
from themegen.source.bigquery import BigQuerySource

# Tag of every task that calls Gemini: a Prefect tag concurrency limit on it caps parallel
# batches across all flow runs and workers (`prefect concurrency-limit create gemini N`).
GEMINI_TAG = "gemini"


@task(
    name="generate-batch",
    tags=[GEMINI_TAG],
    task_run_name="batch-{batch.batch_id}",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=10,
)
async def generate_batch(batch: BatchDescriptor, settings: Settings) -> BatchResult:
    started = time.monotonic()
    rows = await asyncio.to_thread(BigQuerySource(settings).read_batch, batch)
    generator = GeminiGenerator(settings)
    outcomes = await theme_rows(rows, batch.batch_id, await RowCache.open(settings), generator, settings)
    return BatchResult(
        batch_id=batch.batch_id,
        rows=len(rows),
        records=[o.result for o in outcomes if isinstance(o.result, ThemeRecord)],
        failures=[o.result for o in outcomes if isinstance(o.result, RowFailure)],
        usage=generator.usage,
        cached=sum(o.cached for o in outcomes),
        seconds=round(time.monotonic() - started, 3),
    )


def collect_batch_results(
    batches: list[BatchDescriptor], futures: list[PrefectFuture[BatchResult]]
) -> list[BatchResult]:
    """Wait for every batch; a batch whose task failed becomes a BatchResult carrying the error,
    so the run goes on, the report names it, and its rows can be re-run."""
    wait(futures)
    results = []
    for batch, future in zip(batches, futures, strict=True):
        state = future.state
        if state.is_completed():
            results.append(future.result())
        else:
            error = state.result(raise_on_failure=False)
            results.append(BatchResult(batch_id=batch.batch_id, rows=batch.row_count, error=f"{state.name}: {error}"))
    return results
