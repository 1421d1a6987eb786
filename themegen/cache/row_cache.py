"""Durable per-row answer cache, on Prefect result storage (local disk by default, a GCS bucket
block in the cloud), shared by every worker that points at the same storage.

Key: row id + model + prompt version + response schema version + a hash of the row's input text,
so an edited row or a new prompt/model is regenerated and an unchanged row never is. The value is
the model's *raw* answer text (plus token counts); themes are parsed again on every read, so a
parser change never re-bills a call.
"""

from __future__ import annotations

import hashlib
import logging

from prefect.blocks.core import Block
from prefect.filesystems import LocalFileSystem, WritableFileSystem
from prefect.results import ResultStore
from prefect.serializers import JSONSerializer
from pydantic import BaseModel

from themegen.prompt import SCHEMA_VERSION
from themegen.settings import Settings

log = logging.getLogger(__name__)


class CachedAnswer(BaseModel):
    raw_text: str
    input_tokens: int = 0
    output_tokens: int = 0


def cache_key(row_id: str, model: str, prompt_version: str, input_hash: str, schema: str = SCHEMA_VERSION) -> str:
    """Storage path of a row's answer (pure). Model/prompt/schema are folders so old ones can be
    listed or deleted as a whole; the row part is hashed so any id is a safe file name."""
    digest = hashlib.sha256(f"{row_id}\x1f{input_hash}".encode()).hexdigest()
    safe_model = "".join(c if c.isalnum() or c in "-._" else "_" for c in model)
    safe_prompt = "".join(c if c.isalnum() or c in "-._" else "_" for c in prompt_version)
    return f"answers/{safe_model}/{safe_prompt}/{schema}/{digest[:2]}/{digest}"


async def storage_for(settings: Settings) -> WritableFileSystem:
    if settings.cache_block:
        return await Block.aload(settings.cache_block)
    return LocalFileSystem(basepath=str(settings.cache_path.resolve()))


class RowCache:
    def __init__(self, storage: WritableFileSystem) -> None:
        self.store = ResultStore(result_storage=storage, serializer=JSONSerializer())

    @classmethod
    async def open(cls, settings: Settings) -> RowCache:
        return cls(await storage_for(settings))

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            if not await self.store.aexists(key):
                return None
            return CachedAnswer.model_validate((await self.store.aread(key)).result)
        except Exception as exc:  # a torn write (process killed mid-write) is a miss, not a crash
            log.warning("row cache entry %s unreadable (%s); treating as a miss", key, exc)
            return None

    async def put(self, key: str, answer: CachedAnswer) -> None:
        await self.store.awrite(key=key, obj=answer.model_dump())
