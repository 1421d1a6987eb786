"""End to end on the local stack: BigQuery emulator -> Gemini simulator -> Spanner emulator (the full
run also -> PostgreSQL), with a real Prefect server. The sink's contents and the simulator's counters
are the witnesses."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.generate_themes import generate_themes
from local_stack.gemini_sim import derive_themes
from tests.flows.helpers import assert_rows_add_up, batch_rows, distinct_texts, is_empty, source_rows
from themegen.pricing.estimate import Estimate
from themegen.domain.prompt import input_hash


async def artifact_keys(flow_run_id: str) -> set[str]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key for a in artifacts}


async def test_every_row_gets_six_themes_in_the_sink(stack, sink):
    sink.clear_outputs()
    rows = source_rows(stack)
    empty = {i for i, t in rows.items() if is_empty(t)}
    assert len(rows) == 300 and empty, "the sample must contain empty texts"

    summary = await generate_themes(batch_size=40)
    assert_rows_add_up(summary)

    themes = sink.themes()
    assert set(themes) == set(rows) - empty
    for source_id, row in themes.items():
        assert row.themes == derive_themes(rows[source_id]), source_id
        assert (row.model, row.prompt_version, row.input_hash) == ("gemini-2.5-flash", "v1", input_hash(rows[source_id]))
        assert row.generated_at is not None
    failures = sink.failures()
    assert set(failures) == empty
    assert all("nothing to theme" in f.error and f.flow_run_id == summary.flow_run_id for f in failures.values())

    stats = stack.sim("stats")
    sendable = set(rows) - empty
    assert stats["requests"] == distinct_texts(rows, sendable) == summary.llm_calls
    assert summary.requests_saved == len(sendable) - summary.llm_calls > 0
    assert summary.rows_total == 300
    assert summary.rows_succeeded == summary.themes_written == len(rows) - len(empty)
    assert summary.rows_failed == len(empty)
    assert summary.input_tokens == stats["input_tokens"] and summary.output_tokens == stats["output_tokens"]
    assert {"themegen-report", "themegen-summary", "themegen-failures", "themegen-progress"} <= await artifact_keys(
        summary.flow_run_id)
    async with get_client() as client:
        [progress] = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[summary.flow_run_id]), key=ArtifactFilterKey(any_=["themegen-progress"])))
    assert progress.data == 100.0


async def test_a_429_and_503_burst_ends_in_success(stack):
    stack.clear_outputs()
    stack.sim("config", {"burst_429": 25, "burst_503": 10, "burst_retry_delay_s": 0.2})
    rows = source_rows(stack)
    first_60 = sorted(rows)[:60]
    expected = [i for i in first_60 if not is_empty(rows[i])]

    summary = await generate_themes(rows_limit=60, batch_size=20)

    stats = stack.sim("stats")
    assert stats["http_429"] == 25 and stats["http_503"] == 10
    assert summary.rows_succeeded == len(expected)
    assert summary.llm_calls == stats["requests"] == distinct_texts(rows, expected) + 35
    assert {r[0] for r in stack.read_table("SELECT SourceId FROM Themes")} == set(expected)


async def test_invalid_answers_are_recorded_and_the_run_goes_on(stack, monkeypatch):
    stack.clear_outputs()
    monkeypatch.setenv("THEMEGEN_MAX_ATTEMPTS", "2")
    rows = source_rows(stack)
    first_40 = [i for i in sorted(rows)[:40] if not is_empty(rows[i])]
    bad = first_40[:3]
    stack.sim("config", {"fail_ids": bad})

    summary = await generate_themes(rows_limit=40, batch_size=15)

    failures = {r[0]: r for r in stack.read_table("SELECT SourceId, BatchId, Error, Attempts FROM ThemeFailures")}
    for source_id in bad:
        _, batch_id, error, attempts = failures[source_id]
        assert "InvalidAnswer" in error and attempts == 2
        assert source_id in batch_rows(15, batch_id, 40)
    assert set(first_40) - set(bad) == {r[0] for r in stack.read_table("SELECT SourceId FROM Themes")}
    assert summary.rows_failed == len(failures)
    assert stack.sim("stats")["row_requests"][bad[0]] == 2


async def test_estimate_only_returns_an_estimate_and_generates_nothing(stack):
    stack.clear_outputs()
    estimate = await generate_themes(estimate_only=True)
    assert isinstance(estimate, Estimate)
    assert estimate.rows == 300 and estimate.input_tokens > 0 and estimate.usd is not None
    assert stack.sim("stats")["requests"] == 0
    assert stack.read_table("SELECT t.SourceId FROM Themes AS t") == []
