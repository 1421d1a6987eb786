"""The SQLite adapter's own behaviour and the key layout; the port's contract is test_contract.py."""

import asyncio
import sqlite3
from contextlib import closing

import pytest

from themegen.cache import CachedAnswer
from themegen.cache.sqlite.client import FILE_NAME, CacheFileError, LocalCache
from themegen.domain.generation import Generation


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


def test_local_cache_names_an_unusable_file_and_what_to_do(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"this is not a SQLite database, it is long enough to have a header" * 2)
    with pytest.raises(CacheFileError, match=rf"{FILE_NAME}.*Move the file aside.*THEMEGEN_CACHE_PATH"):
        LocalCache(tmp_path)


def test_a_cache_file_of_the_previous_version_gains_the_failure_columns_and_keeps_its_answers(tmp_path):
    with closing(sqlite3.connect(tmp_path / FILE_NAME)) as db:
        db.execute("CREATE TABLE answers (key TEXT PRIMARY KEY, raw_text TEXT NOT NULL, input_tokens INTEGER NOT NULL, "
                   "output_tokens INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("INSERT INTO answers VALUES ('k', 'old answer', 1, 2)")
        db.commit()
    assert asyncio.run(LocalCache(tmp_path).get_many(["k"])) == {"k": CachedAnswer(raw_text="old answer", input_tokens=1,
                                                                                   output_tokens=2)}
