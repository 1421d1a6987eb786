"""Row cache on object storage whose operations do not grow with rows: answers written in groups
(segments), read a generation at a time (client.py has the layout and the SIGKILL bound)."""

from __future__ import annotations

import logging
import threading

from themegen.cache import RowCache
from themegen.cache.settings import CacheSettings

log = logging.getLogger(__name__)

# One cache per block and process: every step of a run (batch job, batches, final upsert) shares
# its buffer and map, so what one step put is what the next step reads, flushed or not.
_OPEN: dict[str, RowCache] = {}


async def open_block_cache(settings: CacheSettings) -> RowCache:
    """The process's cache on the storage block `settings.block`: grouped where the block's kind
    can be listed (GcsBucket, LocalFileSystem) and `settings.layout` is 'segments', else one object
    per key."""
    from prefect.blocks.core import Block

    from themegen.cache.block.client import BlockCache
    from themegen.cache.segments.client import SegmentCache
    from themegen.cache.segments.store import store_for

    # per memory bound too: the taxonomy's vectors are held in a smaller map than the run's answers
    slug = f"{settings.block}#{settings.layout}#{settings.memory_entries}"
    if slug in _OPEN:
        return _OPEN[slug]
    block = await Block.aload(settings.block)
    store = store_for(block) if settings.layout == "segments" else None
    if settings.layout == "segments" and store is None:
        log.warning("row cache: %s (%s) cannot be listed, so answers are kept one object per key",
                    settings.block, type(block).__name__)
    cache = SegmentCache(store, settings) if store is not None else BlockCache(block)
    _OPEN[slug] = cache
    return cache


def close_all() -> None:
    """Write what every open cache holds and forget them (tests; the interpreter's exit does the same)."""
    while _OPEN:
        cache = _OPEN.popitem()[1]
        if hasattr(cache, "close"):
            cache.close()


def flush_all(timeout_s: float) -> bool:
    """Write what every open cache holds, waiting at most `timeout_s`; True if all was written. For
    a process about to end without its interpreter's exit (os._exit), which skips the close."""
    def flush() -> None:
        for cache in list(_OPEN.values()):
            if hasattr(cache, "flush"):
                try:
                    cache.flush()
                except Exception as exc:  # noqa: BLE001 - ending anyway: say what is lost
                    log.warning("row cache: answers not written before the process ends: %s", exc)

    writer = threading.Thread(target=flush, name="row-cache-final-flush", daemon=True)
    writer.start()
    writer.join(timeout_s)
    return not writer.is_alive()
