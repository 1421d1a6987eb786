"""The RowCache port's contract, run on every adapter: SQLite, one object per key on a Prefect
LocalFileSystem block, and the grouped layout (segments) on LocalFileSystem and on the Cloud
Storage emulator through a prefect-gcp GcsBucket block.

"Another process" is a second instance on the same storage, opened after the first one was
closed (a process's exit closes its caches); a key outside the row and text keys (a batch job's
record) must be readable by another process as soon as `put` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from prefect.filesystems import LocalFileSystem

from themegen.cache import CachedAnswer, CacheReadError, RowCache
from themegen.cache.block.client import BlockCache
from themegen.cache.segments.client import SegmentCache
from themegen.cache.segments.store import FileStore, GcsStore
from themegen.cache.sqlite.client import LocalCache
from themegen.domain.generation import Generation
from themegen.domain.models import Reason
from themegen.llm.jobs.record import run_jobs_key

GENERATION = Generation("gemini-2.5-flash", "v1", "f" * 64)
ANSWER = CachedAnswer(raw_text='{"themes": ["a", "b", "c", "d", "e", "f"]}', input_tokens=12, output_tokens=9)
DECLINED = CachedAnswer(failure_reason=Reason.BLOCKED, failure="the model declined: finishReason SAFETY")


@dataclass
class Adapter:
    """How to open a cache on one storage place, and how that place breaks."""

    open: Callable[[], RowCache]
    broken: Callable[[], RowCache]

    def close(self, cache: RowCache) -> None:
        if hasattr(cache, "close"):
            cache.close()


class Unreadable(LocalFileSystem):
    _block_type_name = "Unreadable storage (test)"  # its own slug: LocalFileSystem stays registered as it is

    async def aread_path(self, path: str) -> bytes:
        raise PermissionError("403 storage.objects.get denied")


class UnreadableStore(FileStore):
    def list(self, folder: str, start_offset: str = "") -> list[str]:
        raise PermissionError("403 storage.objects.list denied")

    def read(self, name: str) -> bytes | None:
        raise PermissionError("403 storage.objects.get denied")


def _closed_sqlite(path) -> LocalCache:
    cache = LocalCache(path)
    cache._db.close()
    return cache


@pytest.fixture(params=["sqlite", "objects-localfs", "segments-localfs", "segments-gcs"])
def adapter(request, tmp_path) -> Adapter:
    if request.param == "sqlite":
        return Adapter(lambda: LocalCache(tmp_path), lambda: _closed_sqlite(tmp_path / "broken"))
    if request.param == "objects-localfs":
        return Adapter(lambda: BlockCache(LocalFileSystem(basepath=str(tmp_path))),
                       lambda: BlockCache(Unreadable(basepath=str(tmp_path))))
    if request.param == "segments-localfs":
        return Adapter(lambda: SegmentCache(FileStore(tmp_path)), lambda: SegmentCache(UnreadableStore(tmp_path)))
    emulator = request.getfixturevalue("emulator")
    bucket = emulator.bucket()
    return Adapter(lambda: SegmentCache(GcsStore(bucket)), lambda: SegmentCache(UnreadableStore(tmp_path)))


def row_key(i: int) -> str:
    return GENERATION.row_key(f"row-{i}", f"{i:064x}")


async def test_nothing_is_found_before_anything_is_put(adapter):
    cache = adapter.open()
    assert await cache.get_many([]) == {}
    assert await cache.get_many([row_key(1), GENERATION.text_key("0" * 64), run_jobs_key("run")]) == {}
    adapter.close(cache)


async def test_an_entry_is_read_back_by_its_writer_and_by_another_process(adapter):
    cache = adapter.open()
    await cache.put(row_key(1), ANSWER)
    await cache.put(GENERATION.text_key("1" * 64), DECLINED)
    wanted = [row_key(1), GENERATION.text_key("1" * 64), row_key(2)]
    assert await cache.get_many(wanted) == {row_key(1): ANSWER, GENERATION.text_key("1" * 64): DECLINED}
    adapter.close(cache)
    other = adapter.open()
    assert await other.get_many(wanted) == {row_key(1): ANSWER, GENERATION.text_key("1" * 64): DECLINED}
    adapter.close(other)


async def test_the_latest_put_of_a_key_wins_here_and_in_another_process(adapter):
    cache = adapter.open()
    await cache.put(row_key(1), DECLINED)
    await cache.put(row_key(1), ANSWER)
    assert await cache.get_many([row_key(1)]) == {row_key(1): ANSWER}
    adapter.close(cache)
    other = adapter.open()
    assert await other.get_many([row_key(1)]) == {row_key(1): ANSWER}
    adapter.close(other)


async def test_a_record_outside_the_row_and_text_keys_is_readable_elsewhere_when_put_returns(adapter):
    cache, key = adapter.open(), run_jobs_key("flow-run-1")
    await cache.put(key, CachedAnswer(raw_text='{"jobs": ["batches/1"]}'))
    other = adapter.open()  # the writer is still open: nothing was flushed by a close
    assert await other.get_many([key]) == {key: CachedAnswer(raw_text='{"jobs": ["batches/1"]}')}
    await cache.put(key, CachedAnswer(raw_text='{"jobs": ["batches/1", "batches/2"]}'))
    assert (await other.get_many([key]))[key].raw_text == '{"jobs": ["batches/1", "batches/2"]}'
    adapter.close(cache)
    adapter.close(other)


async def test_many_keys_in_one_read_and_concurrent_puts(adapter):
    cache = adapter.open()
    keys = [row_key(i) for i in range(1_200)]
    await asyncio.gather(*(cache.put(key, ANSWER) for key in keys[::2]))
    found = await cache.get_many(keys)
    assert set(found) == set(keys[::2])
    adapter.close(cache)
    assert set(await (other := adapter.open()).get_many(keys)) == set(keys[::2])
    adapter.close(other)


async def test_storage_that_cannot_be_read_is_an_error_not_a_miss_that_would_pay_again(adapter):
    cache = adapter.broken()
    with pytest.raises(CacheReadError):
        await cache.get_many([row_key(1)])
    with pytest.raises(CacheReadError):
        await cache.get_many([run_jobs_key("flow-run-1")])
    adapter.close(cache)
