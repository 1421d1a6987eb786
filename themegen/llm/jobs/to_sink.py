"""A job's output written straight to the sink, as the lines are read: themes for each answered row
and every row that shares its text, the same failure records as online, in grouped writes (the
sink's `write` splits each into commits within its limits). No row goes through the row cache on the
way: the batch tasks that run after the job find these rows done in the sink, as a rerun does.

What a row gets is what its batch task would have written for the same answer (pipeline/settle.py):
a ThemeRecord stamped with the run's Generation (model, prompt version and fingerprint, input hash),
or a BLOCKED failure (also kept in the row cache under the row's and its text's key, as online: a
declined text is not paid for again unless retry_failed), with the deletes it makes stale (an old
failure of a row that now has themes, old themes of a row that now fails). Rows a job left (error
line, missing, invalid) are not written: their batch tasks ask them online.
"""

from __future__ import annotations

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

ROWS_PER_WRITE = 2_000  # rows whose stored state is read, and whose writes are handed to the sink, at once


class SinkWriter:
    """Outcomes gathered into writes of up to ROWS_PER_WRITE rows."""

    def __init__(self, edges: Edges) -> None:
        self.edges = edges
        self.themes: list[ThemeRecord] = []
        self.failures: list[RowFailure] = []
        self.written = 0

    def __len__(self) -> int:
        return len(self.themes) + len(self.failures)

    async def add(self, row: JobRow, outcome: Answer | RowFailure) -> None:
        generation = self.edges.generation
        if isinstance(outcome, Answer):
            self.themes.append(generation.record(row.id, row.digest, outcome.themes))
        else:
            self.failures.append(outcome.model_copy(update={"source_id": row.id, "batch_id": row.batch_id}))
            pending = Pending(row.id, "", row.digest, generation.row_key(row.id, row.digest))
            await cache_answer(pending, outcome, self.edges)
        if len(self) >= ROWS_PER_WRITE:
            await self.flush()

    async def flush(self) -> None:
        if not len(self):
            return
        themed, failed = {r.source_id for r in self.themes}, {f.source_id for f in self.failures}
        stored = await self.edges.sink.stored(sorted(themed | failed))
        writes = Writes(
            themes=self.themes,
            failures=[f for f in self.failures if stored.failures.get(f.source_id) != (f.reason.value, f.error)],
            delete_themes=sorted(failed & stored.themes.keys()),
            delete_failures=sorted(themed & stored.failures.keys()),
        )
        await self.edges.sink.write(writes, self.edges.flow_run_id)
        self.written += len(self.themes)
        self.themes, self.failures = [], []


async def write_output(lines: Iterable[str], job: int, work: WorkStore, edges: Edges) -> JobOutput:
    """Match the job's output lines to its requests, validate them, write every row they settle."""
    out, sink = JobOutput(), SinkWriter(edges)
    work.start_reading(job)
    for request, line in matched(lines, lambda key: work.take(job, key), lambda: work.unseen(job)):
        answers = outcomes(request, line, out)
        settled = {row.digest: answers[row.id] for row in request.rows if answers[row.id] is not None}
        followers = work.followers(list(settled)) if settled else {}
        for row in request.rows:
            if (outcome := answers[row.id]) is not None:
                for each in (row, *followers.get(row.digest, ())):
                    await sink.add(each, outcome)
    await sink.flush()
    out.rows_answered = sink.written
    return out
