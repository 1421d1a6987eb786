"""Step 0: prove the source, the sink, Gemini and the shared rate limits are reachable and configured,
before any LLM call."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.llm.gemini.generator import GeminiGenerator
from themegen.limiter.shared import check_shared_limits
from themegen.config.settings import Settings
from themegen.sink.spanner.client import SpannerSink
from themegen.source.bigquery.client import BigQuerySource


@task(name="check-config", cache_policy=NO_CACHE)
async def check_config(settings: Settings) -> None:
    await asyncio.gather(
        asyncio.to_thread(BigQuerySource(settings).check_source),
        SpannerSink(settings).check_tables(),
        GeminiGenerator(settings).check_access(),
        # A missing shared limit would otherwise fail the first request of every batch.
        check_shared_limits(settings),
    )
