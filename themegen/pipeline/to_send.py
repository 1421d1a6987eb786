"""What a run would send, found the way the run finds it, without sending anything: the run's
batches settled against the sink and the row cache (settle.py's `unsettled`), and identical texts
counted once. The estimate prices this, so it says 0 for a finished run and counts a repeated text once.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from themegen.config.settings import Settings
from themegen.domain.generation import Pending
from themegen.pipeline.edges import open_edges
from themegen.pipeline.settle import unsettled
from themegen.source import open_source


@dataclass
class ToSend:
    rows: int = 0  # rows of the run (filtered, distinct ids, rows_limit applied)
    rows_to_send: int = 0  # not done, not in the row cache, no identical text answered
    texts: int = 0  # distinct texts among them: one request's worth of rows each
    sample: list[Pending] = field(default_factory=list)  # up to `sample_rows` of those texts, one row each
    bytes_billed: int = 0


async def rows_to_send(settings: Settings, rows_limit: int | None, sample_rows: int) -> ToSend:
    """Reads the source once (its own snapshot) and the sink and cache for every batch; holds one
    small integer per distinct text to send."""
    source = open_source(settings)
    await asyncio.to_thread(source.check_source)
    plan = await asyncio.to_thread(source.plan, f"estimate_{uuid.uuid4().hex[:12]}",
                                   settings.rows_per_batch, rows_limit, None, 1, settings.max_batches_per_run)
    found = ToSend(rows=plan.rows_total + plan.rows_done_earlier + plan.rows_failed_earlier,
                   bytes_billed=plan.bytes_processed or 0)
    seen: set[int] = set()
    async with open_edges(settings) as edges:
        for batch in plan.batches:
            rows = await asyncio.to_thread(edges.source.read_batch, batch)
            for row in await unsettled(rows, batch.batch_id, edges):
                found.rows_to_send += 1
                text = int(row.digest[:16], 16)
                if text not in seen:
                    seen.add(text)
                    if len(found.sample) < sample_rows:
                        found.sample.append(row)
    found.texts = len(seen)
    return found
