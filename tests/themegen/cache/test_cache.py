import asyncio
import sqlite3
from contextlib import closing

import pytest
from prefect.filesystems import LocalFileSystem

from themegen.cache import CachedAnswer, CacheReadError
from themegen.cache.block.client import BlockCache
from themegen.cache.sqlite.client import FILE_NAME, CacheFileError, LocalCache
from themegen.domain.generation import Generation
from themegen.domain.models import Reason

ANSWER = CachedAnswer(raw_text='{"themes": ["a", "b", "c", "d", "e", "f"]}', input_tokens=12, output_tokens=9)


def test_key_changes_with_every_part_and_only_then():
    base = Generation("gemini-2.5-flash", "v1", "fp1").row_key("row-1", "h" * 64)
    assert base == Generation("gemini-2.5-flash", "v1", "fp1").row_key("row-1", "h" * 64)
    others = [Generation("gemini-2.5-flash", "v1", "fp1").row_key("row-2", "h" * 64),
              Generation("gemini-2.5-pro", "v1", "fp1").row_key("row-1", "h" * 64),
              Generation("gemini-2.5-flash", "v2", "fp1").row_key("row-1", "h" * 64),
              Generation("gemini-2.5-flash", "v1", "fp1").row_key("row-1", "g" * 64),
              Generation("gemini-2.5-flash", "v1", "fp2").row_key("row-1", "h" * 64)]
    assert len({base, *others}) == 6


def test_key_is_a_safe_relative_path_for_any_id():
    key = Generation("models/../x", "v 1", "../fp").row_key("../../etc/passwd", "h")
    assert ".." not in key.split("/") and not key.startswith("/")


async def test_local_cache_round_trip_and_misses(tmp_path):
    cache = LocalCache(tmp_path / "new")  # the directory is made on first use
    key = Generation("m", "v1", "fp").row_key("r", "h")
    assert await cache.get_many([key]) == {}
    await cache.put(key, ANSWER)
    assert await LocalCache(tmp_path / "new").get_many([key]) == {key: ANSWER}  # committed at once: another reader sees it
    assert await cache.get_many([Generation("m", "v2", "fp").row_key("r", "h")]) == {}


async def test_local_cache_put_replaces_an_older_answer(tmp_path):
    cache = LocalCache(tmp_path)
    key = Generation("m", "v1", "fp").row_key("r", "h")
    await cache.put(key, CachedAnswer(raw_text="not json"))
    await cache.put(key, ANSWER)
    assert await cache.get_many([key]) == {key: ANSWER}


def test_local_cache_names_an_unusable_file_and_what_to_do(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"this is not a SQLite database, it is long enough to have a header" * 2)
    with pytest.raises(CacheFileError, match=rf"{FILE_NAME}.*Move the file aside.*THEMEGEN_CACHE_PATH"):
        LocalCache(tmp_path)


async def test_block_cache_round_trip_on_a_storage_block(tmp_path):
    cache = BlockCache(LocalFileSystem(basepath=str(tmp_path)))
    key = Generation("m", "v1", "fp").row_key("r", "h")
    assert await cache.get_many([key]) == {}
    await cache.put(key, ANSWER)
    assert await cache.get_many([key, "answers/absent.json"]) == {key: ANSWER}


async def test_many_keys_in_one_read_and_permanent_failures_round_trip(tmp_path):
    cache = LocalCache(tmp_path)
    keys = [Generation("m", "v1", "fp").row_key(f"r{i}", "h") for i in range(1_200)]  # more than one query's worth
    for key in keys[::2]:
        await cache.put(key, ANSWER)
    declined = CachedAnswer(failure_reason=Reason.BLOCKED, failure="the model declined: finishReason SAFETY")
    await cache.put(keys[1], declined)
    found = await cache.get_many(keys)
    assert len(found) == 601 and found[keys[1]] == declined and found[keys[0]] == ANSWER


def test_a_cache_file_of_the_previous_version_gains_the_failure_columns_and_keeps_its_answers(tmp_path):
    with closing(sqlite3.connect(tmp_path / FILE_NAME)) as db:
        db.execute("CREATE TABLE answers (key TEXT PRIMARY KEY, raw_text TEXT NOT NULL, input_tokens INTEGER NOT NULL, "
                   "output_tokens INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("INSERT INTO answers VALUES ('k', 'old answer', 1, 2)")
        db.commit()
    assert asyncio.run(LocalCache(tmp_path).get_many(["k"])) == {"k": CachedAnswer(raw_text="old answer", input_tokens=1,
                                                                                   output_tokens=2)}


class BrokenStorage(LocalFileSystem):
    async def aread_path(self, path: str) -> bytes:
        raise PermissionError("403 storage.objects.get denied")


async def test_a_block_cache_read_error_is_an_error_not_a_miss_that_would_pay_again(tmp_path):
    with pytest.raises(CacheReadError, match="403 storage.objects.get denied"):
        await BlockCache(BrokenStorage(basepath=str(tmp_path))).get_many(["answers/k.json"])
