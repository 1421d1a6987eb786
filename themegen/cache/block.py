"""Row cache on a Prefect storage block (e.g. prefect-gcp `GcsBucket`), shared by every worker
and Cloud Run container of a run. Object stores write whole objects, so entries are never torn."""

from __future__ import annotations

import logging

from prefect.blocks.core import Block
from prefect.filesystems import WritableFileSystem
from pydantic import ValidationError

from themegen.cache import CachedAnswer

log = logging.getLogger(__name__)


class BlockCache:
    def __init__(self, storage: WritableFileSystem) -> None:
        self.storage = storage

    @classmethod
    async def open(cls, slug: str) -> BlockCache:
        """slug: '<block-type>/<name>', e.g. 'gcs-bucket/themegen-cache'."""
        return cls(await Block.aload(slug))

    async def get(self, key: str) -> CachedAnswer | None:
        try:
            data = await self.storage.aread_path(key)
        except (FileNotFoundError, ValueError):
            return None
        except Exception as exc:  # object stores raise their own not-found types (e.g. google NotFound)
            if type(exc).__name__ != "NotFound":
                log.warning("row cache entry %s unreadable (%s); treating it as a miss", key, exc)
            return None
        try:
            return CachedAnswer.model_validate_json(data)
        except ValidationError:
            return None

    async def put(self, key: str, answer: CachedAnswer) -> None:
        await self.storage.awrite_path(key, answer.model_dump_json().encode())
