"""A job's output written to the sink: each answered row and the rows sharing its text get the run's
ThemeRecord, a declined row its BLOCKED failure (kept in the row cache too, as online), stale records
are deleted, and rows the job left are not written (online asks them)."""

from __future__ import annotations

import json

from tests.themegen.llm.gemini.test_generator import settings_for
from tests.themegen.llm.jobs.test_results import THEMES, response
from themegen.cache import open_cache
from themegen.domain.generation import Generation
from themegen.domain.models import Reason
from themegen.domain.prompt import input_hash
from themegen.llm.jobs.requests import JobRequest, JobRow
from themegen.llm.jobs.to_sink import write_output
from themegen.llm.jobs.work import open_work
from themegen.pipeline.edges import Edges
from themegen.sink import Writes


class Recorded:
    description = "a recording sink"

    def __init__(self) -> None:
        self.writes: list[Writes] = []

    async def write(self, writes: Writes, flow_run_id: str | None) -> None:
        self.writes.append(writes)


def row(row_id: str, text: str, **had: bool) -> JobRow:
    return JobRow(row_id, input_hash(text), 3, **had)


async def test_answers_reach_the_sink_for_every_row_of_their_text_with_stale_records_deleted(tmp_path):
    settings = settings_for("http://127.0.0.1:9").with_overrides(cache_path=tmp_path / "cache", cache_block=None)
    sink, generation = Recorded(), Generation.of(settings)
    edges = Edges(settings, None, sink, await open_cache(settings), generation, None, flow_run_id="run-1")
    answered = JobRequest("k1", (row("a", "late parcel", had_failure=True),))
    declined = JobRequest("k2", (row("b", "rude words", had_themes=True),))
    left = JobRequest("k3", (row("c", "lost answer"),))
    with open_work(tmp_path / "work") as work:
        for request in (answered, declined, left):
            work.add(request, 0)
        work.follow(row("a2", "late parcel", had_failure=True))  # takes a's answer
        work.follow(row("c2", "lost answer"))
        lines = [json.dumps({"key": "k1", "response": response(json.dumps({"themes": THEMES}))}),
                 json.dumps({"key": "k2", "response": response("", finish="SAFETY")})]

        out = await write_output(lines, 0, work, edges)

    [writes] = sink.writes
    assert writes.themes == [generation.record(i, input_hash("late parcel"), THEMES) for i in ("a", "a2")]
    [failure] = writes.failures
    assert (failure.source_id, failure.reason, failure.batch_id) == ("b", Reason.BLOCKED, 3)
    assert writes.delete_failures == ["a", "a2"] and writes.delete_themes == ["b"]
    assert (out.rows_answered, out.rows_left, out.missing) == (2, 1, 1)  # c (and c2 with it) go online
    cached = await edges.cache.get_many([generation.text_key(input_hash("rude words"))])
    assert next(iter(cached.values())).failure_reason == Reason.BLOCKED  # not paid for again, as online
