"""Where the row cache lives (THEMEGEN_CACHE_*), nested in the root Settings as `cache`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class CacheSettings(BaseModel):
    path: Path = Field(Path(".themegen/cache"), description="local cache directory (one machine): a SQLite file")
    block: str | None = Field(
        None, description="storage block slug shared by all workers, e.g. 'gcs-bucket/themegen-cache'"
    )
    # How a block holds entries (themegen/cache/segments/client.py): 'segments' groups them, a few
    # objects per thousand rows; 'objects' is one object per key, two writes per answered row.
    layout: Literal["segments", "objects"] = Field(
        "segments", description="block layout: 'segments' (grouped, the default) or 'objects' (one per key)"
    )
    # The SIGKILL bound: a killed process loses at most the answers of the last flush_s seconds.
    flush_s: float = Field(2.0, gt=0, le=60, description="segments: seconds an answer may wait in memory")
    flush_entries: int = Field(1000, ge=1, description="segments: entries that make a segment at once")
    memory_entries: int = Field(
        500_000, ge=1000, description="segments: entries a process holds (newest first) to answer reads"
    )
