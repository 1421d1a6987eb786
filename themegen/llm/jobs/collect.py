"""The run's unsettled rows streamed from the source into job files, one batch (a page of the
snapshot) at a time: memory holds one page, never the run (README, "Batch jobs at scale").

For each batch descriptor of the plan, in order: its rows as a batch task would see them (Spanner,
row cache, identical texts already answered: pipeline/settle.py `unsettled`; what the sink held for
each row is kept with it); the first row of each text the run has not met yet is asked, the others
follow it (work.py); the asked rows are packed `rows_per_request` to a request and each request is
written to the open job file, which is closed and handed over when the next request would pass a
per-job limit (requests.py). A rerun with the same rows builds the same files, so it finds the jobs
they went to (record.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from themegen.domain.models import BatchPlan
from themegen.llm.jobs.requests import JobFile, JobFiles, JobRow, job_line, pack
from themegen.llm.jobs.settings import JobLimits
from themegen.llm.jobs.work import WorkStore
from themegen.pipeline.edges import Edges
from themegen.pipeline.settle import unsettled
from themegen.sink import Sink, Stored


class SeenSink:
    """The sink, keeping what its last `stored` read found (a page's ids): the rows' writes need it
    later (what a new outcome makes stale), without a second read."""

    def __init__(self, sink: Sink) -> None:
        self.sink, self.seen = sink, Stored()
        self.description = sink.description

    async def stored(self, row_ids: list[str]) -> Stored:
        self.seen = await self.sink.stored(row_ids)
        return self.seen


async def job_files(plan: BatchPlan, edges: Edges, work: WorkStore, limits: JobLimits) -> AsyncIterator[JobFile]:
    """Each job file as soon as it is complete (the last one when the plan is read)."""
    settings, sink = edges.settings, SeenSink(edges.sink)
    files, edges = JobFiles(work.directory, settings.model, limits), replace(edges, sink=sink)
    for batch in plan.batches:
        rows = await asyncio.to_thread(edges.source.read_batch, batch)
        asked, job_rows = [], {}
        for row in await unsettled(rows, batch.batch_id, edges):
            job_rows[row.id] = JobRow(row.id, row.digest, batch.batch_id, row.id in sink.seen.themes,
                                      row.id in sink.seen.failures)
            if work.claim(row.digest):
                asked.append(row)
            else:
                work.follow(job_rows[row.id])
        del rows
        for request_rows in pack(asked, settings.rows_per_request):
            line = job_line(request_rows, tuple(job_rows[r.id] for r in request_rows), settings)
            job, closed = files.add(line)
            work.add(line.request, job)
            if closed is not None:
                work.commit()
                yield closed
    if (last := files.close()) is not None:
        work.commit()
        yield last
