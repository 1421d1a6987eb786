"""The Spanner sink against the real emulator: idempotent upserts inside the mutation budget."""

from __future__ import annotations

import math

from themegen.models import RowFailure, ThemeRecord
from themegen.settings import Settings
from themegen.sink.spanner import MUTATIONS_PER_THEME_ROW, SpannerSink


def record(i: int, tag: str = "a") -> ThemeRecord:
    return ThemeRecord(source_id=f"s-{i:04d}", themes=[f"{tag}{k}" for k in range(6)], model="m",
                       prompt_version="v1", input_hash="0" * 64)


def test_themes_are_written_in_commits_inside_the_budget(stack):
    stack.clear_outputs()
    budget = 700  # 100 theme rows per commit
    sink = SpannerSink(Settings(), mutation_budget=budget)
    assert sink.theme_rows_per_commit == budget // MUTATIONS_PER_THEME_ROW == 100
    assert sink.write_changed([record(i) for i in range(450)]) == 450
    assert sink.commits == math.ceil(450 / 100) == 5
    rows = stack.read_table("SELECT t.SourceId, t.Themes FROM Themes AS t ORDER BY t.SourceId")
    assert [r[0] for r in rows] == [f"s-{i:04d}" for i in range(450)]
    assert rows[0][1] == [f"a{k}" for k in range(6)]


def test_writes_are_idempotent_and_success_clears_an_old_failure(stack):
    stack.clear_outputs()
    sink = SpannerSink(Settings())
    sink.write_failures([RowFailure(source_id="s-0001", batch_id=0, error="boom", attempts=3)], flow_run_id="r1")
    assert stack.read_table("SELECT SourceId, Error, FlowRunId FROM ThemeFailures") == [["s-0001", "boom", "r1"]]
    assert [sink.write_changed([record(1, "b")]) for _ in range(2)] == [1, 0]  # unchanged: not rewritten
    assert stack.read_table("SELECT t.SourceId, t.Themes FROM Themes AS t") == [["s-0001", [f"b{k}" for k in range(6)]]]
    assert stack.read_table("SELECT SourceId FROM ThemeFailures") == []
