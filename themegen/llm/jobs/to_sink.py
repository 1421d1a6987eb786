"""A job's output written straight to the sink, as the lines are read: themes for each answered row
and every row that shares its text, the same failure records as online, in grouped writes (the
sink's `write` splits each into commits within its limits). No row goes through the row cache on the
way: the batch tasks that run after the job find these rows done in the sink, as a rerun does.

What a row gets is what its batch task would have written for the same answer (pipeline/settle.py):
a ThemeRecord stamped with the run's Generation (model, prompt version and fingerprint, input hash),
or a BLOCKED failure (also kept in the row cache under the row's and its text's key, as online: a
declined text is not paid for again unless retry_failed), with the deletes it makes stale (an old
failure of a row that now has themes, old themes of a row that now fails, as the sink held them
when the plan was read: collect.py keeps it with each row, so the writes need no read). Rows a job left (error line, missing, invalid) are not written: their batch
tasks ask them online.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from themegen.domain.generation import Pending
from themegen.domain.models import RowFailure, ThemeRecord
from themegen.llm import Answer
from themegen.llm.jobs.requests import JobRow
from themegen.llm.jobs.results import JobOutput, matched, outcomes
from themegen.llm.jobs.work import WorkStore
from themegen.pipeline.edges import Edges
from themegen.pipeline.settle import cache_answer
from themegen.sink import Writes

ROWS_PER_WRITE = 5_000  # rows handed to the sink in one write (it splits them into commits within its limits)


class SinkWriter:
    """Outcomes gathered into writes of up to ROWS_PER_WRITE rows, THEMEGEN_JOBS_WRITES_IN_FLIGHT of them
    under way while the next is gathered."""

    def __init__(self, edges: Edges) -> None:
        self.edges = edges
        self.themes: list[ThemeRecord] = []
        self.failures: list[RowFailure] = []
        self.stale_themes: list[str] = []  # ids whose old themes a failure replaces
        self.stale_failures: list[str] = []  # ids whose old failure new themes replace
        self.written = self.writes = 0
        self.seconds = 0.0  # summed over the writes (they overlap)
        self.in_flight: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self.themes) + len(self.failures)

    async def add(self, row: JobRow, outcome: Answer | RowFailure) -> None:
        generation = self.edges.generation
        if isinstance(outcome, Answer):
            self.themes.append(generation.record(row.id, row.digest, outcome.themes))
            self.stale_failures += [row.id] if row.had_failure else []
        else:
            self.failures.append(outcome.model_copy(update={"source_id": row.id, "batch_id": row.batch_id}))
            self.stale_themes += [row.id] if row.had_themes else []
            pending = Pending(row.id, "", row.digest, generation.row_key(row.id, row.digest))
            await cache_answer(pending, outcome, self.edges)
        if len(self) >= ROWS_PER_WRITE:
            await self.flush()

    async def flush(self) -> None:
        """Hand the gathered rows to a write of their own, once fewer than writes_in_flight are under way."""
        if len(self):
            while len(self.in_flight) >= self.edges.settings.jobs.writes_in_flight:
                await self._settle(asyncio.FIRST_COMPLETED)
            self.in_flight.add(asyncio.create_task(
                self._write(self.themes, self.failures, self.stale_themes, self.stale_failures)))
            self.themes, self.failures, self.stale_themes, self.stale_failures = [], [], [], []

    async def close(self) -> None:
        """Flush, and wait for every write (the first error, if any, is raised)."""
        await self.flush()
        while self.in_flight:
            await self._settle(asyncio.ALL_COMPLETED)

    async def _settle(self, when: str) -> None:
        done, self.in_flight = await asyncio.wait(self.in_flight, return_when=when)
        for task in done:
            task.result()

    async def _write(self, themes: list[ThemeRecord], failures: list[RowFailure], stale_themes: list[str],
                     stale_failures: list[str]) -> None:
        """Upserts, and deletes of what they make stale (as the sink held it when the plan was read)."""
        started = time.monotonic()
        writes = Writes(themes=themes, failures=failures, delete_themes=stale_themes, delete_failures=stale_failures)
        await self.edges.sink.write(writes, self.edges.flow_run_id)
        self.seconds += time.monotonic() - started
        self.written += len(themes)
        self.writes += 1


async def write_output(lines: Iterable[str], job: int, work: WorkStore, edges: Edges) -> JobOutput:
    """Match the job's output lines to its requests, validate them, write every row they settle."""
    out, sink = JobOutput(), SinkWriter(edges)
    work.start_reading(job)
    try:
        for request, line in matched(lines, lambda key: work.take(job, key), lambda: work.unseen(job)):
            answers = outcomes(request, line, out)
            settled = {row.digest: answers[row.id] for row in request.rows if answers[row.id] is not None}
            followers = work.followers(list(settled)) if settled else {}
            for row in request.rows:
                if (outcome := answers[row.id]) is not None:
                    for each in (row, *followers.get(row.digest, ())):
                        await sink.add(each, outcome)
        await sink.close()
    finally:
        for task in sink.in_flight:  # a failed write: the others are not waited for
            task.cancel()
    out.rows_answered = sink.written
    print(f"batch: job {job}'s rows in {sink.writes} writes, {sink.seconds:.1f} s summed over up to "
          f"{edges.settings.jobs.writes_in_flight} at once")
    return out
