"""Where the row cache lives (THEMEGEN_CACHE_*), nested in the root Settings as `cache`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class CacheSettings(BaseModel):
    path: Path = Field(Path(".themegen/cache"), description="local cache directory (one machine): a SQLite file")
    block: str | None = Field(
        None, description="storage block slug shared by all workers, e.g. 'gcs-bucket/themegen-cache'"
    )
