"""Row cache on one machine: a SQLite database, `<cache_path>/answers.sqlite3`.

Why not a file per row (the first version): creating a file is kernel work (inode, directory entry,
journal), and at zero latency it was most of the pipeline's own cost. Measured on a 10,000-row
zero-latency run: 7 of the process's 8 s of system CPU, and 199 -> 265 rows/s with the writes left
out. An insert into SQLite's write-ahead log is one append.

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

from themegen.cache import CachedAnswer

FILE_NAME = "answers.sqlite3"
BUSY_TIMEOUT_MS = 10_000
_SCHEMA = """CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, raw_text TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL
) WITHOUT ROWID"""


class CacheFileError(RuntimeError):
    """The cache file cannot be used; the message names it and what to do."""


class LocalCache:
    """One connection per instance (one batch task); calls are a few microseconds, made on the
    event loop without a thread hop."""

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
        except (OSError, sqlite3.DatabaseError) as exc:
            raise CacheFileError(
                f"row cache {self.path} cannot be used ({exc}). Move the file aside (its answers will be "
                "asked again) or point THEMEGEN_CACHE_PATH at another directory"
            ) from None
        self._lock = threading.Lock()  # check_same_thread=False: calls from several threads take turns
        weakref.finalize(self, self._db.close)

    async def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT raw_text, input_tokens, output_tokens FROM answers WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return CachedAnswer(raw_text=row[0], input_tokens=row[1], output_tokens=row[2])

    async def put(self, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, raw_text, input_tokens, output_tokens) VALUES (?, ?, ?, ?)",
                (key, answer.raw_text, answer.input_tokens, answer.output_tokens),
            )
