"""Durable per-row answer cache: one entry per answered row.

Key: row id + model + prompt version + prompt fingerprint (instructions, schemas, validator) + a
hash of the row's input text, so an edited row or a new prompt/model is regenerated and an
unchanged row never is. The value is the model's *raw* answer text (plus token counts); themes are
parsed again on every read, so a parser change never re-bills a call. A permanent failure (the model
declined, or stayed invalid after the repair retry) is kept too: it was paid for, and the same
request would fail the same way, so reruns do not send it again unless asked (retry_failed). Each answer is kept a second
time under its text alone (`text_cache_key`), so another row with the same text, in this run or a later
one, takes it instead of paying for a request of its own. Backends: `local.py` (a SQLite file, the default) and `block.py`
(any Prefect storage block, e.g. a prefect-gcp GcsBucket shared by every worker: a JSON document per key).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from pydantic import BaseModel, Field

from themegen.domain.models import Reason
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


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in part)


def cache_key(row_id: str, model: str, prompt_version: str, fingerprint: str, input_hash: str) -> str:
    """Relative path of a row's answer (pure). Model/prompt version/fingerprint are folders on a
    block (a key prefix in the SQLite cache) so old generations can be listed or deleted as a
    whole; the row part is hashed so any id is a safe file name."""
    digest = hashlib.sha256(f"{row_id}\x1f{input_hash}".encode()).hexdigest()
    return f"answers/{_safe(model)}/{_safe(prompt_version)}/{_safe(fingerprint)}/{digest[:2]}/{digest}.json"


def text_cache_key(model: str, prompt_version: str, fingerprint: str, input_hash: str) -> str:
    """Relative path of the answer to a text, whichever row holds it (pure): identical texts under
    the same model and prompt get the same answer, so a text already answered is not paid again."""
    return f"texts/{_safe(model)}/{_safe(prompt_version)}/{_safe(fingerprint)}/{input_hash[:2]}/{_safe(input_hash)}.json"


async def open_cache(settings: Settings) -> RowCache:
    if settings.cache_block:
        from themegen.cache.block.client import BlockCache

        return await BlockCache.open(settings.cache_block)
    from themegen.cache.sqlite.client import LocalCache

    return LocalCache(settings.cache_path)
