"""BatchStream: finished batches handed from generation to the Spanner writer while both run.

Generation puts each BatchResult the moment its batch finishes; the writer iterates them and
commits whenever a full commit's worth of rows is ready, so at the end of generation only the last
partial commit is left to write instead of the whole run (7.7 s of a 323-s run at 30,000 rows).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from themegen.models import BatchResult

_END = None


class BatchStream:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[BatchResult | None] = asyncio.Queue()

    def put(self, result: BatchResult) -> None:
        self._queue.put_nowait(result)

    def close(self) -> None:
        """No more batches (also after a failure, so the writer finishes what it has)."""
        self._queue.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[BatchResult]:
        while (result := await self._queue.get()) is not _END:
            yield result
