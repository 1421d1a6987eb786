"""Row cache on one machine: a SQLite database, `<cache_path>/answers.sqlite3`.

Why not a file per row (the first version): creating a file is kernel work (inode, directory entry,
journal), and at zero latency it was most of the pipeline's own cost (README, "Where the time goes").
An insert into SQLite's write-ahead log is one append.

- Each put is its own transaction, so an answer is kept the moment it validates. A process killed
  mid-write loses that answer only; SQLite rolls the torn transaction back on the next open.
- synchronous=NORMAL (with WAL): a process crash loses nothing committed; a power cut may lose the
  last answers, which are then asked again (the file-per-row cache did no fsync either).
- Several processes of one machine may share the file (WAL; a writer waits up to BUSY_TIMEOUT_MS
  for another). Not for network file systems, where WAL is unsafe: workers on several machines
  share a storage block instead (block.py).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from pathlib import Path

from themegen.cache import CachedAnswer, CacheReadError

FILE_NAME = "answers.sqlite3"
BUSY_TIMEOUT_MS = 10_000
KEYS_PER_QUERY = 500  # under SQLite's default limit of bound parameters
_SCHEMA = """CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, raw_text TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    failure_reason TEXT, failure TEXT
) WITHOUT ROWID"""
# Files written before permanent failures were cached lack these columns: added in place, answers kept.
_ADDED_COLUMNS = ("failure_reason", "failure")


class CacheFileError(RuntimeError):
    """The cache file cannot be used; the message names it and what to do."""


class LocalCache:
    """One connection per instance; calls are a few microseconds, made on the event loop without a
    thread hop."""

    def __init__(self, root: Path) -> None:
        self.path = root.resolve() / FILE_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit, one transaction per statement.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=BUSY_TIMEOUT_MS / 1000)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
            for column in _ADDED_COLUMNS:
                if column not in present:
                    self._db.execute(f"ALTER TABLE answers ADD COLUMN {column} TEXT")
        except (OSError, sqlite3.DatabaseError) as exc:
            raise CacheFileError(
                f"row cache {self.path} cannot be used ({exc}). Move the file aside (its answers will be "
                "asked again) or point THEMEGEN_CACHE_PATH at another directory"
            ) from None
        self._lock = threading.Lock()  # check_same_thread=False: calls from several threads take turns
        weakref.finalize(self, self._db.close)

    async def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        found: dict[str, CachedAnswer] = {}
        try:
            with self._lock:
                for start in range(0, len(keys), KEYS_PER_QUERY):
                    chunk = keys[start:start + KEYS_PER_QUERY]
                    rows = self._db.execute(
                        "SELECT key, raw_text, input_tokens, output_tokens, failure_reason, failure FROM answers "
                        f"WHERE key IN ({','.join('?' * len(chunk))})", chunk,
                    ).fetchall()
                    found.update({r[0]: CachedAnswer(raw_text=r[1], input_tokens=r[2], output_tokens=r[3],
                                                     failure_reason=r[4], failure=r[5]) for r in rows})
        except sqlite3.DatabaseError as exc:
            raise CacheReadError(f"row cache {self.path} could not be read: {exc}") from None
        return found

    async def put(self, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, raw_text, input_tokens, output_tokens, failure_reason, failure) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, answer.raw_text, answer.input_tokens, answer.output_tokens,
                 answer.failure_reason.value if answer.failure_reason else None, answer.failure),
            )
