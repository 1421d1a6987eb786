"""Progress of a run, reported to whoever listens: the Prefect progress artifact (best effort: a
Prefect API outage must not stop the run), and a terminal bar when the CLI runs the flow in its own
process (it registers a listener)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from themegen.report.best_effort import best_effort
from themegen.domain.models import BatchResult


@dataclass(frozen=True)
class ProgressCounts:
    """What a terminal shows while a run goes: counters of the batches finished so far."""

    rows_done: int
    rows_total: int
    batches_done: int
    http_429: int = 0
    failed_rows: int = 0  # rows that got a failure reason (recorded in ThemeFailures)
    failed_batches: int = 0  # batches that failed whole (their rows stay for a rerun)


Listener = Callable[[ProgressCounts], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    _listeners.remove(listener)


class RunProgress:
    """Counts finished batches; updates the Prefect progress artifact at most once per percent."""

    def __init__(self, rows_total: int) -> None:
        self.rows_total, self.rows_done, self.batches_done = rows_total, 0, 0
        self.http_429 = self.failed_rows = self.failed_batches = 0
        self._artifact_id = None
        self._published = -1
        # One update at a time, in the background: updates must reach the server in order (or 100%
        # may end as 80%), and a batch must not wait on one (through an outage, Prefect's client
        # retries a call for minutes).
        self._publisher: asyncio.Task | None = None

    async def start(self) -> None:
        self._artifact_id = await best_effort("progress artifact", lambda: acreate_progress_artifact(
            progress=0.0, key="themegen-progress", description="rows processed (done, cached, answered or failed)"
        ))
        self._notify()

    async def batch_done(self, rows: int, result: BatchResult | None = None) -> None:
        self.rows_done += rows
        self.batches_done += 1
        if result is not None:
            self.http_429 += result.usage.http_429
            self.failed_rows += len(result.failures)
            self.failed_batches += result.error is not None
        self._notify()
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish())
        # else: the update under way (maybe retrying through an outage) catches up with this one

    async def _publish(self) -> None:
        while self._artifact_id is not None and (percent := self._percent()) > self._published:
            self._published = percent  # a failed update is not retried: the next one supersedes it
            await best_effort("progress update", lambda: aupdate_progress_artifact(
                self._artifact_id, progress=float(percent)))

    async def finish(self, wait_s: float = 10.0) -> None:
        """Give the last update up to `wait_s` to reach the server; the run does not wait longer."""
        if self._publisher is not None:
            await asyncio.wait({self._publisher}, timeout=wait_s)

    def _percent(self) -> int:
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 100

    def _notify(self) -> None:
        counts = ProgressCounts(self.rows_done, self.rows_total, self.batches_done, self.http_429,
                                self.failed_rows, self.failed_batches)
        for listener in _listeners:
            listener(counts)
