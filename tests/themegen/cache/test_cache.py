import pytest
from prefect.filesystems import LocalFileSystem

from themegen.cache import CachedAnswer, cache_key
from themegen.cache.block import BlockCache
from themegen.cache.local import FILE_NAME, CacheFileError, LocalCache

ANSWER = CachedAnswer(raw_text='{"themes": ["a", "b", "c", "d", "e", "f"]}', input_tokens=12, output_tokens=9)


def test_key_changes_with_every_part_and_only_then():
    base = cache_key("row-1", "gemini-2.5-flash", "v1", "h" * 64)
    assert base == cache_key("row-1", "gemini-2.5-flash", "v1", "h" * 64)
    others = [cache_key("row-2", "gemini-2.5-flash", "v1", "h" * 64),
              cache_key("row-1", "gemini-2.5-pro", "v1", "h" * 64),
              cache_key("row-1", "gemini-2.5-flash", "v2", "h" * 64),
              cache_key("row-1", "gemini-2.5-flash", "v1", "g" * 64),
              cache_key("row-1", "gemini-2.5-flash", "v1", "h" * 64, schema="themes-v2")]
    assert len({base, *others}) == 6


def test_key_is_a_safe_relative_path_for_any_id():
    key = cache_key("../../etc/passwd", "models/../x", "v 1", "h")
    assert ".." not in key.split("/") and not key.startswith("/")


async def test_local_cache_round_trip_and_misses(tmp_path):
    cache = LocalCache(tmp_path / "new")  # the directory is made on first use
    key = cache_key("r", "m", "v1", "h")
    assert await cache.get(key) is None
    await cache.put(key, ANSWER)
    assert await LocalCache(tmp_path / "new").get(key) == ANSWER  # committed at once: another reader sees it
    assert await cache.get(cache_key("r", "m", "v2", "h")) is None


async def test_local_cache_put_replaces_an_older_answer(tmp_path):
    cache = LocalCache(tmp_path)
    key = cache_key("r", "m", "v1", "h")
    await cache.put(key, CachedAnswer(raw_text="not json"))
    await cache.put(key, ANSWER)
    assert await cache.get(key) == ANSWER


def test_local_cache_names_an_unusable_file_and_what_to_do(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"this is not a SQLite database, it is long enough to have a header" * 2)
    with pytest.raises(CacheFileError, match=rf"{FILE_NAME}.*Move the file aside.*THEMEGEN_CACHE_PATH"):
        LocalCache(tmp_path)


async def test_block_cache_round_trip_on_a_storage_block(tmp_path):
    cache = BlockCache(LocalFileSystem(basepath=str(tmp_path)))
    key = cache_key("r", "m", "v1", "h")
    assert await cache.get(key) is None
    await cache.put(key, ANSWER)
    assert await cache.get(key) == ANSWER
