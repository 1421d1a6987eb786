"""The quality report on a run of the local stack: a judged sample, rates with intervals in the
report artifact, the judgements in the sink's table, a Prefect event with the rates; judged once."""

from __future__ import annotations

import time

import httpx
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, ArtifactFilterFlowRunId

from flows.generate_themes import generate_themes

ROWS = 120
FAULTS = {"*": {"generic": 0.1, "unsupported": 0.05, "duplicated": 0.05}}


async def report_markdown(flow_run_id: str) -> str:
    async with get_client() as client:
        [artifact] = await client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["themegen-report"]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return artifact.data


def quality_events(stack, flow_run_id: str) -> list[dict]:
    """The run's quality events as the Prefect server stored them (events reach it asynchronously)."""
    body = {"filter": {"event": {"name": ["themegen.quality.judged"]},
                       "resource": {"id": [f"themegen.run.{flow_run_id}"]}}, "limit": 10}
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(f"{stack.env['PREFECT_API_URL']}/events/filter", json=body)
        if (events := response.raise_for_status().json()["events"]) or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


async def test_a_run_reports_judged_quality_stores_the_judgements_and_emits_the_rates(stack, sink, monkeypatch):
    sink.clear_outputs()
    stack.sim("config", {"quality_faults": FAULTS})
    monkeypatch.setenv("THEMEGEN_QUALITY_SAMPLE_ROWS", "100")
    try:
        summary = await generate_themes(rows_limit=ROWS, batch_size=40)
    finally:
        stack.sim("config", {"quality_faults": {}})
    judge = stack.sim("stats")["judge"]
    assert judge["rows_judged"] <= 100 and judge["requests"] == 4  # 25 rows per judge request (the default)
    # each request's 128 thinking tokens are billed (the default judge, Pro, cannot turn thinking off)
    assert judge["output_tokens"] >= 4 * 128

    markdown = await report_markdown(summary.flow_run_id)
    assert "## Quality" in markdown and "come from the Gemini simulator" in markdown
    for check in ("grounded", "specific", "distinct", "language", "cover"):
        assert f"| {check} |" in markdown
    assert "Worst rows" in markdown and "not specific" in markdown and "Judge cost" in markdown

    judgements = sink.judgements()
    assert len(judgements) == 100 and set(judgements) <= sink.theme_ids()
    bad = sum(verdict.count("0") for row in judgements.values() for verdict in row.verdicts)
    assert 0 < bad < 600  # the injected faults are found, not everything is bad
    for source_id, row in judgements.items():
        assert row.themes == sink.themes()[source_id].themes

    [event] = quality_events(stack, summary.flow_run_id)
    assert "Gemini simulator" in event["resource"]["themegen.environment"]
    rates = event["payload"]["rates"]
    assert set(rates) == {"grounded", "specific", "distinct", "language", "cover"} and rates["language"] == 1.0
    assert 0.7 < rates["specific"] < 1.0
    assert summary.quality["specific"][0] == rates["specific"] and len(summary.quality) == 5  # `run --json` has them

    # A rerun with nothing to do themes no row, so it judges none.
    again = await generate_themes(rows_limit=ROWS, batch_size=40)
    assert stack.sim("stats")["judge"]["requests"] == 4 and again.llm_calls == 0
    assert "Not judged (this run themed no rows)" in await report_markdown(again.flow_run_id)
    # Paid once: a rerun over the same rows (the done record off: every row is read again, and found
    # done in the sink) judges the same rows from the cache.
    monkeypatch.setenv("THEMEGEN_BQ_DONE_RECORD", "false")
    again = await generate_themes(rows_limit=ROWS, batch_size=40)
    assert stack.sim("stats")["judge"]["requests"] == 4 and again.llm_calls == 0
    assert "100 judgements reused" in await report_markdown(again.flow_run_id)


async def test_a_judge_that_fails_never_fails_the_run_and_the_report_says_why(stack, sink, monkeypatch):
    sink.clear_outputs()
    monkeypatch.setenv("THEMEGEN_QUALITY_SAMPLE_ROWS", "0")
    first = await generate_themes(rows_limit=40, batch_size=40)
    assert "Not judged (THEMEGEN_QUALITY_SAMPLE_ROWS=0)" in await report_markdown(first.flow_run_id)
    assert stack.sim("stats")["judge"]["requests"] == 0

    monkeypatch.setenv("THEMEGEN_QUALITY_SAMPLE_ROWS", "20")
    monkeypatch.setenv("THEMEGEN_BQ_DONE_RECORD", "false")  # the done rows are read again: there is a sample
    monkeypatch.setenv("THEMEGEN_MAX_ATTEMPTS", "1")
    stack.sim("config", {"error_rate_500": 1.0})  # the themes are done: only the judge's requests meet it
    state = await generate_themes(rows_limit=40, batch_size=40, return_state=True)

    summary = await state.result()
    assert state.is_completed() and summary.llm_calls == 0 and summary.rows_succeeded == first.rows_succeeded
    markdown = await report_markdown(summary.flow_run_id)
    assert "Not judged: 20 rows" in markdown and "ServerError" in markdown
    assert sink.judgements() == {}


async def test_the_sample_is_stratified_by_a_source_column(stack, sink, monkeypatch):
    sink.clear_outputs()
    monkeypatch.setenv("THEMEGEN_QUALITY_SAMPLE_ROWS", "60")
    monkeypatch.setenv("THEMEGEN_QUALITY_STRATIFY", "lang")  # a column of the sample table: ja, en, mixed
    summary = await generate_themes(rows_limit=ROWS, batch_size=40)
    markdown = await report_markdown(summary.flow_run_id)
    [line] = [line for line in markdown.splitlines() if line.startswith("Rows per stratum: ")]
    strata = {k: int(v) for k, v in (part.split(" ") for part in line.removeprefix("Rows per stratum: ").split(", "))}
    assert set(strata) <= {"ja", "en", "mixed"} and len(strata) >= 2 and sum(strata.values()) == 60
    assert "stratified by lang" in markdown


async def test_a_stratify_column_that_does_not_exist_is_one_clear_error_before_any_call(stack, sink, monkeypatch):
    sink.clear_outputs()
    monkeypatch.setenv("THEMEGEN_QUALITY_STRATIFY", "channel")
    state = await generate_themes(rows_limit=20, return_state=True)
    assert state.is_failed() and "'channel'" in state.message and "THEMEGEN_QUALITY_STRATIFY" in state.message
    assert stack.sim("stats")["requests"] == 0 and stack.sim("stats")["judge"]["requests"] == 0
