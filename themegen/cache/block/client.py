"""Row cache on any Prefect storage block, one JSON object per key, shared by every worker and
Cloud Run container of a run. Object stores write whole objects, so entries are never torn.

The layout for blocks the grouped cache cannot list (themegen/cache/segments/), and on request
(THEMEGEN_CACHE_LAYOUT=objects): it costs two object writes per answered row and a read per key."""

from __future__ import annotations

import asyncio

from prefect.filesystems import WritableFileSystem
from pydantic import ValidationError

from themegen.cache import CachedAnswer, CacheReadError

READS_AT_ONCE = 32  # object GETs in flight per batch


class BlockCache:
    def __init__(self, storage: WritableFileSystem) -> None:
        self.storage = storage

    async def _get(self, key: str, gate: asyncio.Semaphore) -> CachedAnswer | None:
        async with gate:
            try:
                data = await self.storage.aread_path(key)
            except (FileNotFoundError, ValueError):
                return None
            except Exception as exc:  # object stores raise their own not-found types (e.g. google NotFound)
                if type(exc).__name__ == "NotFound":
                    return None
                # Not a miss: treating it as one would pay Gemini again for an answer we have.
                raise CacheReadError(f"row cache entry {key} on {type(self.storage).__name__} unreadable: "
                                     f"{type(exc).__name__}: {exc}") from None
        try:
            return CachedAnswer.model_validate_json(data)
        except ValidationError:
            return None  # a torn or foreign object: asked again, and overwritten

    async def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        gate = asyncio.Semaphore(READS_AT_ONCE)
        answers = await asyncio.gather(*(self._get(key, gate) for key in keys))
        return {key: answer for key, answer in zip(keys, answers, strict=True) if answer is not None}

    async def put(self, key: str, answer: CachedAnswer) -> None:
        await self.storage.awrite_path(key, answer.model_dump_json(exclude_none=True).encode())
