"""The run's edges: one source, sink, row cache and stop per run, shared by its batches.

Built once per step that needs them (not per batch): a sink client, a source read client and a
cache connection per batch would cost a credentials lookup and a channel each, and the read
clients were never closed. Each edge is a port (themegen/source, sink, cache); which adapter
stands behind it is the settings' business.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from themegen.cache import RowCache, open_cache
from themegen.config.settings import Settings
from themegen.domain.generation import Generation
from themegen.domain.models import BatchResult
from themegen.domain.stop import RunStop
from themegen.pipeline.same_text import TextShare
from themegen.sink import Sink, open_sink
from themegen.source import Source, open_source
from themegen.tiers.policy import RequestPolicy, request_policy


@dataclass
class Edges:
    settings: Settings
    source: Source
    sink: Sink
    cache: RowCache
    generation: Generation  # the run's model, prompt version and fingerprint: every key and record
    policy: RequestPolicy  # how the run's Gemini requests are sent (its tier's numbers), built once
    stop: RunStop = field(default_factory=RunStop)
    flow_run_id: str | None = None
    # batch id -> result, handed over by the batch task before it ends (see tasks/generate_batch.py)
    finished: dict[int, BatchResult] = field(default_factory=dict)
    # texts a batch is asking Gemini for right now: other batches with the same text wait for it
    texts: TextShare = field(default_factory=TextShare)


@asynccontextmanager
async def open_edges(settings: Settings, flow_run_id: str | None = None) -> AsyncIterator[Edges]:
    source, sink = open_source(settings), open_sink(settings)
    try:
        yield Edges(settings, source, sink, await open_cache(settings), Generation.of(settings),
                    request_policy(settings), flow_run_id=flow_run_id)
    finally:
        source.close()
        sink.close()
