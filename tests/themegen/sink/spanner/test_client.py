"""The Spanner sink against the real emulator: what a batch's ids hold, and idempotent writes of a
batch's outcome inside the mutation budget."""

from __future__ import annotations

import asyncio
import math
import time

from themegen.domain.models import Reason, RowFailure, ThemeRecord
from themegen.config.settings import Settings
from themegen.sink.spanner.client import THEME_COLUMNS, SpannerSink, Writes


def record(i: int, tag: str = "a") -> ThemeRecord:
    return ThemeRecord(source_id=f"s-{i:04d}", themes=[f"{tag}{k}" for k in range(6)], model="m",
                       prompt_version="v1", prompt_fingerprint="fp", input_hash="0" * 64)


def failure(i: int) -> RowFailure:
    return RowFailure(source_id=f"s-{i:04d}", batch_id=0, reason=Reason.TRANSIENT, error="boom", attempts=3)


async def test_themes_are_written_in_commits_inside_the_budget(stack):
    stack.clear_outputs()
    budget = 100 * len(THEME_COLUMNS)  # 100 theme rows per commit
    sink = SpannerSink(Settings(), mutation_budget=budget)
    await sink.write(Writes(themes=[record(i) for i in range(450)]), flow_run_id=None)
    assert sink.commits == math.ceil(450 / 100) == 5
    rows = stack.read_table("SELECT t.SourceId, t.Themes, t.PromptFingerprint FROM Themes AS t ORDER BY t.SourceId")
    assert [r[0] for r in rows] == [f"s-{i:04d}" for i in range(450)]
    assert rows[0][1:] == [[f"a{k}" for k in range(6)], "fp"]


async def test_stored_reports_both_tables_and_writes_remove_what_they_make_stale(stack):
    stack.clear_outputs()
    sink = SpannerSink(Settings())
    await sink.write(Writes(themes=[record(1)], failures=[failure(2)]), flow_run_id="r1")
    stored = await sink.stored(["s-0001", "s-0002", "s-0003"])
    assert stored.themes == {"s-0001": ("m", "v1", "fp", "0" * 64)}
    assert stored.failures == {"s-0002": ("transient", "boom")}

    # s-0001 now fails (its old themes go), s-0002 now has themes (its old failure goes)
    await sink.write(Writes(themes=[record(2, "b")], failures=[failure(1)], delete_themes=["s-0001"],
                      delete_failures=["s-0002"]), flow_run_id="r2")
    assert stack.read_table("SELECT t.SourceId FROM Themes AS t") == [["s-0002"]]
    assert stack.read_table("SELECT SourceId, Reason, FlowRunId FROM ThemeFailures") == [["s-0001", "transient", "r2"]]


async def test_concurrent_commits_caps_the_commits_in_flight(stack, monkeypatch):
    """The emulator aborts a read-write transaction that overlaps another (the client then backs off
    for seconds): with THEMEGEN_SPANNER_CONCURRENT_COMMITS=1 batches' writes queue instead, all land."""
    stack.clear_outputs()
    monkeypatch.setenv("THEMEGEN_SPANNER_CONCURRENT_COMMITS", "1")
    sink = SpannerSink(Settings(), mutation_budget=10 * len(THEME_COLUMNS))
    in_flight, most = 0, 0
    commit = sink._commit

    def counted(batch):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            time.sleep(0.05)  # long enough for the other writes to start theirs, if nothing held them back
            commit(batch)
        finally:
            in_flight -= 1

    monkeypatch.setattr(sink, "_commit", counted)
    await asyncio.gather(*(sink.write(Writes(themes=[record(i + 100 * w) for i in range(30)]), flow_run_id=None)
                           for w in range(4)))
    assert most == 1 and sink.commits == 4 * 3
    assert stack.read_table("SELECT COUNT(*) FROM Themes") == [[120]]
