"""Step 0: prove the prompt is readable, and the source, the sink, Gemini and the shared rate limits are
reachable and configured, before any LLM call."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.config.settings import Settings
from themegen.domain.prompt import prompt_of
from themegen.limiter.shared import check_shared_limits
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.sink import open_sink
from themegen.source import open_source


@task(name="check-config", cache_policy=NO_CACHE)
async def check_config(settings: Settings) -> None:
    prompt = prompt_of(settings)  # a missing or empty prompt file: PromptError, before any request
    print(f"prompt: {prompt.origin} (fingerprint {prompt.fingerprint})")
    source, sink = open_source(settings), open_sink(settings)
    try:
        await asyncio.gather(
            asyncio.to_thread(source.check_source),
            sink.check_tables(),
            GeminiGenerator(settings).check_access(),
            # A missing shared limit would otherwise fail the first request of every batch.
            check_shared_limits(settings),
        )
    finally:
        source.close()
        sink.close()
