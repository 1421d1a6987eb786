"""Bad input and misconfiguration: a clear per-row reason, the run goes on, or it fails before any
LLM call naming the setting to fix."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.generate_themes import generate_themes
from local_stack.bigquery import bigquery_client, seed_table
from local_stack.gemini_sim import derive_themes
from tests.flows.helpers import theme_ids

NOISY = "Delivery\x00 was late\x07 and the box\x1b was damaged, refund took weeks"
BAD_ROWS = [
    {"id": "bad-001", "text": "The app crashes when I open the billing page on Android"},
    {"id": "bad-002", "text": None},
    {"id": "bad-003", "text": "   \n\t  "},
    {"id": "bad-004", "text": "long text " * 60},
    {"id": "bad-005", "text": "first copy: login fails after the password reset"},
    {"id": "bad-005", "text": "second copy: login fails after the password reset email"},
    {"id": "bad-006", "text": NOISY},
]


@pytest.fixture
def bad_table(stack, monkeypatch):
    client = bigquery_client(stack.config.project, stack.env["THEMEGEN_BQ_API_ENDPOINT"])
    seed_table(client, f"{stack.config.project}.{stack.config.dataset}.bad_input",
               [r | {"lang": "en", "created_at": "2026-01-01T00:00:00Z"} for r in BAD_ROWS])
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", "bad_input")
    monkeypatch.setenv("THEMEGEN_MAX_INPUT_CHARS", "500")


async def report_markdown(flow_run_id: str) -> str:
    async with get_client() as client:
        [artifact] = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), key=ArtifactFilterKey(any_=["themegen-report"])))
    return artifact.data


async def test_each_bad_row_gets_a_reason_and_the_run_goes_on(stack, bad_table):
    stack.clear_outputs()
    summary = await generate_themes()

    reasons = {r[0]: r[1] for r in stack.read_table("SELECT SourceId, Error FROM ThemeFailures")}
    assert "NULL" in reasons["bad-002"]
    assert "empty or whitespace" in reasons["bad-003"]
    assert "THEMEGEN_MAX_INPUT_CHARS=500" in reasons["bad-004"]
    assert theme_ids(stack) == {"bad-001", "bad-005", "bad-006"}
    themes = dict(stack.read_table("SELECT t.SourceId, t.Themes FROM Themes AS t"))
    assert themes["bad-006"] == derive_themes(NOISY.replace("\x00", "").replace("\x07", "").replace("\x1b", ""))
    assert themes["bad-005"] == derive_themes(BAD_ROWS[4]["text"])  # kept once: the first by text
    assert stack.sim("stats")["row_requests"]["bad-005"] == 1
    assert (summary.rows_total, summary.rows_succeeded, summary.rows_failed) == (6, 3, 3)
    markdown = await report_markdown(summary.flow_run_id)
    assert "Duplicate ids (1)" in markdown and "bad-005" in markdown


@pytest.mark.parametrize(
    ("env", "setting"),
    [({"THEMEGEN_BQ_TABLE": "no_such_table"}, "THEMEGEN_BQ_TABLE"),
     ({"THEMEGEN_BQ_TEXT_COLUMNS": '["body"]'}, "THEMEGEN_BQ_TEXT_COLUMNS"),
     ({"THEMEGEN_SPANNER_TABLE": "NoSuchTable"}, "THEMEGEN_SPANNER"),
     ({"THEMEGEN_GEMINI_API_KEY": "wrong-key"}, "THEMEGEN_GEMINI_API_KEY")],
)
async def test_misconfiguration_fails_before_any_llm_call_naming_the_setting(stack, monkeypatch, env, setting):
    stack.clear_outputs()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    state = await generate_themes(rows_limit=20, return_state=True)
    assert state.is_failed() and setting in state.message
    assert stack.sim("stats")["requests"] == 0
