"""The grouped layout's own promises: storage operations counted at the Cloud Storage emulator (its
access log, not our code), when buffered answers are written, the memory bound, and failures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.filesystems import LocalFileSystem, RemoteFileSystem

from themegen import cache as cache_port
from themegen.cache import CachedAnswer, CacheReadError
from themegen.cache.block.client import BlockCache
from themegen.cache.segments import client as segments
from themegen.cache.segments import close_all, flush_all, open_block_cache
from themegen.cache.segments.client import SEGMENTS, SegmentCache, decode, encode, folder_of
from themegen.cache.segments.store import FileStore, GcsStore
from themegen.cache.settings import CacheSettings
from themegen.config.settings import Settings
from themegen.domain.generation import Generation
from themegen.llm.jobs.record import run_jobs_key

REPO = str(Path(__file__).resolve().parents[3])
GENERATION = Generation("gemini-2.5-flash", "v1", "f" * 64)
ANSWER = CachedAnswer(raw_text='{"themes": ["a", "b", "c", "d", "e", "f"]}', input_tokens=12, output_tokens=9)


def settings(**changes) -> CacheSettings:
    return CacheSettings(**{"flush_s": 60, "flush_entries": 100_000, **changes})


async def answer_rows(cache, rows: range) -> list[str]:
    """Put what settle.cache_answer puts for each answered row: its row key and its text key."""
    keys = []
    for i in rows:
        digest = f"{i:064x}"
        for key in (GENERATION.row_key(f"row-{i}", digest), GENERATION.text_key(digest)):
            await cache.put(key, ANSWER)
            keys.append(key)
    return keys


def segment_names(store) -> list[str]:
    return store.list(f"{SEGMENTS}/")


def test_row_and_text_keys_are_grouped_by_generation_and_job_records_are_not():
    assert folder_of(GENERATION.row_key("r", "h" * 64)) == folder_of(GENERATION.text_key("h" * 64))
    assert folder_of(GENERATION.row_key("r", "h")) != folder_of(Generation("gemini-2.5-pro", "v1", "f").row_key("r", "h"))
    assert folder_of(run_jobs_key("run-1")) is None and folder_of("answers/loose.json") is None


def test_a_torn_or_foreign_line_is_skipped_and_the_rest_is_read():
    data = encode("answers/a", b'{"raw_text":"1"}') + b"not a line\n" + b'"answers/b"\t{"raw_text":"2"}'
    assert decode(data + b"\n" + encode("answers/a", b'{"raw_text":"3"}')[:5]) == {
        "answers/a": b'{"raw_text":"1"}', "answers/b": b'{"raw_text":"2"}'}


async def test_a_thousand_rows_are_one_object_write_and_another_process_reads_them_with_two_requests(emulator):
    block = emulator.bucket()
    mark = emulator.mark()
    writer = SegmentCache(GcsStore(block), settings())
    keys = await answer_rows(writer, range(1_000))
    writer.close()
    written = emulator.operations(mark)
    # and at most one read of the bucket's metadata per client (google-cloud-storage's tracing asks once)
    assert (written["insert"], written["class_a"], written["total"] - written["bucket_get"]) == (1, 1, 1)

    mark = emulator.mark()
    reader = SegmentCache(GcsStore(block), settings())
    misses = [GENERATION.row_key(f"new-{i}", f"{i:064x}") for i in range(500)]
    assert set(await reader.get_many(keys + misses)) == set(keys)
    assert set(await reader.get_many(misses)) == set()  # listed less than RELIST_S ago: nothing asked
    read = emulator.operations(mark)
    assert (read["list"], read["get"], read["total"] - read["bucket_get"]) == (1, 1, 2)
    reader.close()


async def test_answers_are_written_after_flush_s_or_at_flush_entries_without_a_close(tmp_path):
    store = FileStore(tmp_path)
    timed = SegmentCache(store, settings(flush_s=0.2))
    await answer_rows(timed, range(1))
    deadline = time.monotonic() + 5
    while not segment_names(store):
        assert time.monotonic() < deadline, "no segment written within flush_s"
        time.sleep(0.02)
    timed.close()

    counted = SegmentCache(FileStore(tmp_path / "counted"), settings(flush_entries=10))
    await answer_rows(counted, range(12))  # 24 entries: written at once (flush_s is a minute)
    deadline = time.monotonic() + 5
    while sum(int(name.rsplit("-", 1)[1].removesuffix(".jsonl")) for name in segment_names(counted.store)) < 24:
        assert time.monotonic() < deadline, "no segment written at flush_entries"
        time.sleep(0.02)
    counted.close()


def test_a_process_that_exits_writes_what_it_holds(tmp_path):
    script = f"""
import asyncio
from themegen.cache import CachedAnswer
from themegen.cache.segments.client import SegmentCache
from themegen.cache.segments.store import FileStore
from themegen.cache.settings import CacheSettings
cache = SegmentCache(FileStore({str(tmp_path)!r}), CacheSettings(flush_s=60))
asyncio.run(cache.put({GENERATION.row_key("r", "h")!r}, CachedAnswer(raw_text="x")))
"""  # exits at once, a minute before its flush would be due
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, env=os.environ | {"PYTHONPATH": REPO})
    assert decode(FileStore(tmp_path).read(segment_names(FileStore(tmp_path))[0])) == {
        GENERATION.row_key("r", "h"): b'{"raw_text":"x","input_tokens":0,"output_tokens":0}'}


async def test_a_reader_holds_the_newest_entries_within_its_bound_and_reads_no_older_segment(emulator):
    block = emulator.bucket()
    for rows in (range(0, 300), range(300, 600), range(600, 900)):  # three processes, 600 entries each
        writer = SegmentCache(GcsStore(block), settings())
        await answer_rows(writer, rows)
        writer.close()
        time.sleep(0.002)  # segment names are ordered by their millisecond
    mark = emulator.mark()
    reader = SegmentCache(GcsStore(block), settings(memory_entries=1_000))
    found = await reader.get_many([GENERATION.row_key(f"row-{i}", f"{i:064x}") for i in range(900)])
    assert len(found) == 300 and all(key.endswith(".json") for key in found)
    assert {GENERATION.row_key(f"row-{i}", f"{i:064x}") for i in range(600, 900)} == set(found)
    assert emulator.operations(mark)["get"] == 1  # the older two segments were never downloaded
    await answer_rows(reader, range(1_000, 1_600))
    assert len(reader._entries) == 1_000
    reader.close()


class FlakyStore(FileStore):
    def __init__(self, root, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    def write(self, name: str, data: bytes, new: bool = False) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("503 backend unavailable")
        super().write(name, data, new)


async def test_a_failed_write_keeps_the_answers_buffered_and_retries_them(tmp_path, caplog):
    store = FlakyStore(tmp_path, failures=2)
    cache = SegmentCache(store, settings(flush_s=0.05))
    keys = await answer_rows(cache, range(5))
    deadline = time.monotonic() + 10
    while not segment_names(store):
        assert time.monotonic() < deadline, "the write was not retried"
        time.sleep(0.05)
    assert "503 backend unavailable" in caplog.text
    cache.close()
    reader = SegmentCache(FileStore(tmp_path), settings())
    assert set(await reader.get_many(keys)) == set(keys)
    reader.close()


class ListOnce(FileStore):
    listed = 0

    def list(self, folder: str, start_offset: str = "") -> list[str]:
        self.listed += 1
        if self.listed > 1:
            raise ConnectionError("list timed out")
        return super().list(folder, start_offset)


async def test_other_processes_segments_are_seen_on_the_next_listing_and_a_failed_relisting_is_no_error(
        tmp_path, monkeypatch):
    monkeypatch.setattr(segments, "RELIST_S", 0.0)
    reader = SegmentCache(FileStore(tmp_path), settings())
    [key, _] = await answer_rows(writer := SegmentCache(FileStore(tmp_path), settings()), range(1))
    assert await reader.get_many([key]) == {}
    writer.close()
    assert await reader.get_many([key]) == {key: ANSWER}  # listed again: the other process's segment
    reader.close()

    flaky = SegmentCache(ListOnce(tmp_path), settings())
    assert await flaky.get_many([key]) == {key: ANSWER}
    assert await flaky.get_many([key]) == {key: ANSWER}  # the second listing failed: what is known answers
    flaky.close()
    with pytest.raises(CacheReadError, match="list timed out"):
        await SegmentCache(type("Never", (ListOnce,), {"listed": 1})(tmp_path), settings()).get_many([key])


async def test_open_cache_groups_a_listable_block_shares_it_per_process_and_keeps_others_per_object(
        tmp_path, monkeypatch):
    blocks = {"local-file-system/c": LocalFileSystem(basepath=str(tmp_path)),
              "remote-file-system/c": RemoteFileSystem(basepath="memory://cache")}  # fsspec: not listed by us

    async def aload(name: str, **_):
        return blocks[name]

    monkeypatch.setattr("prefect.blocks.core.Block.aload", aload)
    close_all()
    try:
        grouped = await cache_port.open_cache(Settings().with_overrides(cache_block="local-file-system/c"))
        assert isinstance(grouped, SegmentCache)
        assert await open_block_cache(CacheSettings(block="local-file-system/c")) is grouped
        objects = await open_block_cache(CacheSettings(block="local-file-system/c", layout="objects"))
        assert isinstance(objects, BlockCache)
        assert isinstance(await open_block_cache(CacheSettings(block="remote-file-system/c")), BlockCache)
    finally:
        close_all()


async def test_flush_all_writes_what_open_caches_hold_before_a_hard_exit(tmp_path, monkeypatch):
    async def aload(name: str, **_):
        return LocalFileSystem(basepath=str(tmp_path))

    monkeypatch.setattr("prefect.blocks.core.Block.aload", aload)
    close_all()
    try:
        cache = await open_block_cache(CacheSettings(block="local-file-system/c", flush_s=60))
        keys = await answer_rows(cache, range(3))
        assert flush_all(timeout_s=10)
        assert set(await SegmentCache(FileStore(tmp_path), settings()).get_many(keys)) == set(keys)
    finally:
        close_all()
