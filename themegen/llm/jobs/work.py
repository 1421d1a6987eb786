"""The run's job bookkeeping on disk, so the flow process's memory does not grow with rows: which
texts the run already asks (one request per distinct text), the rows that take another row's answer
(same text), and each request's rows by key, to match output lines and find the requests a job left
out. A SQLite file in a temporary directory (THEMEGEN_JOBS_WORK_DIR) that lives as long as the step;
the job files are written beside it.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from themegen.llm.jobs.requests import JobRequest, JobRow

_SCHEMA = """
CREATE TABLE texts (digest TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE followers (digest TEXT NOT NULL, id TEXT NOT NULL, batch_id INTEGER NOT NULL, had_themes INTEGER NOT NULL,
                        had_failure INTEGER NOT NULL);
CREATE INDEX followers_by_digest ON followers (digest);
CREATE TABLE requests (key TEXT PRIMARY KEY, job INTEGER NOT NULL, rows TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0);
CREATE INDEX requests_by_job ON requests (job, seen);
"""
_COMMIT_EVERY = 10_000  # statements between commits (the file is scratch: no journal, no fsync)


def _request(key: str, rows: str) -> JobRequest:
    return JobRequest(key, tuple(JobRow(*row) for row in json.loads(rows)))


class WorkStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # One event loop uses it, but Prefect may run a task's body on another thread than the flow's.
        self.db = sqlite3.connect(directory / "work.sqlite3", check_same_thread=False)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        self.changes = 0

    def _changed(self) -> None:
        self.changes += 1
        if self.changes % _COMMIT_EVERY == 0:
            self.db.commit()

    def claim(self, digest: str) -> bool:
        """True the first time the run meets this text (its row is asked), False after (it follows)."""
        claimed = self.db.execute("INSERT OR IGNORE INTO texts VALUES (?)", (digest,)).rowcount == 1
        self._changed()
        return claimed

    def follow(self, row: JobRow) -> None:
        """A row that takes the answer of the row asked for its text."""
        self.db.execute("INSERT INTO followers VALUES (?, ?, ?, ?, ?)",
                        (row.digest, row.id, row.batch_id, row.had_themes, row.had_failure))
        self._changed()

    def add(self, request: JobRequest, job: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO requests (key, job, rows) VALUES (?, ?, ?)",
                        (request.key, job, json.dumps(request.rows)))
        self._changed()

    def start_reading(self, job: int) -> None:
        """Forget which lines of this job were matched (a retried read matches them all again)."""
        self.db.execute("UPDATE requests SET seen = 0 WHERE job = ?", (job,))
        self.db.commit()

    def take(self, job: int, key: str) -> JobRequest | None:
        """The job's request with this key, the first time it is asked for (None: not asked, or seen)."""
        found = self.db.execute("UPDATE requests SET seen = 1 WHERE key = ? AND job = ? AND seen = 0 RETURNING rows",
                                (key, job)).fetchone()
        self._changed()
        return None if found is None else _request(key, found[0])

    def unseen(self, job: int) -> Iterator[JobRequest]:
        """The job's requests no output line matched."""
        for key, rows in self.db.execute("SELECT key, rows FROM requests WHERE job = ? AND seen = 0", (job,)):
            yield _request(key, rows)

    def followers(self, digests: list[str]) -> dict[str, list[JobRow]]:
        """The rows that take each of these texts' answers."""
        found: dict[str, list[JobRow]] = {}
        marks = ",".join("?" * len(digests))
        for digest, *row in self.db.execute(
                f"SELECT digest, id, batch_id, had_themes, had_failure FROM followers WHERE digest IN ({marks})", digests):
            found.setdefault(digest, []).append(JobRow(row[0], digest, row[1], bool(row[2]), bool(row[3])))
        return found

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        self.db.close()


@contextmanager
def open_work(work_dir: Path | None) -> Iterator[WorkStore]:
    """A fresh work store in a temporary directory, removed with everything in it when the step ends."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="themegen-batch-", dir=work_dir) as directory:
        store = WorkStore(Path(directory))
        try:
            yield store
        finally:
            store.close()
