"""The row cache port: durable answers, one entry per answered row.

Key (built by domain/generation.py's `Generation`): row id + model + prompt version + prompt
fingerprint (instructions, schemas, validator) + a hash of the row's input text, so an edited row or
a new prompt/model is regenerated and an unchanged row never is. The value is the model's *raw*
answer text (plus token counts); themes are parsed again on every read, so a parser change never
re-bills a call. A permanent failure (the model declined, or stayed invalid after the repair retry)
is kept too: it was paid for, and the same request would fail the same way, so reruns do not send it
again unless asked (retry_failed). Each answer is kept a second time under its text alone
(`Generation.text_key`), so another row with the same text, in this run or a later one, takes it
instead of paying for a request of its own.

Adapters: sqlite/ (a SQLite file, the default); on a Prefect storage block shared by every worker
(THEMEGEN_CACHE_BLOCK, e.g. a prefect-gcp GcsBucket), segments/ (answers grouped into a few objects
per thousand rows, the default where the block can be listed: GcsBucket, LocalFileSystem) or block/
(a JSON document per key: THEMEGEN_CACHE_LAYOUT=objects, and any other block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, Field

from themegen.domain.models import Reason

if TYPE_CHECKING:
    from themegen.config.settings import Settings


class CachedAnswer(BaseModel):
    raw_text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    failure_reason: Reason | None = Field(None, description="set for a permanent failure (no raw_text then)")
    failure: str | None = None


class CacheReadError(RuntimeError):
    """The cache backend could not answer: its rows are neither hits nor misses (a miss would re-bill)."""


class RowCache(Protocol):
    async def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        """The entries found among `keys`; raises CacheReadError when the backend cannot tell."""
        ...

    async def put(self, key: str, answer: CachedAnswer) -> None: ...


async def open_cache(settings: Settings) -> RowCache:
    if settings.cache.block:
        from themegen.cache.segments import open_block_cache

        return await open_block_cache(settings.cache)
    from themegen.cache.sqlite.client import LocalCache

    return LocalCache(settings.cache.path)
