"""Tier batch on Vertex AI (THEMEGEN_GEMINI_BACKEND=vertex, the production default) end to end on the
local stack: the requests go to a BigQuery table in the emulator, the simulated Vertex AI job reads
it and writes its output table there, the run reads that back by key; rows the job left missing or
failed are asked online (Vertex AI's generateContent), and a killed run's rerun attaches to its job."""

from __future__ import annotations

import json

import pytest

from flows.generate_themes import generate_themes
from local_stack.bigquery import bigquery_client
from tests.flows.helpers import is_empty, nonempty, source_rows, theme_ids
from tests.flows.test_batch_tier import kill, run_cli, settled_rows, start_batch_run
from tests.flows.test_local_themes import ROWS, table_3000  # noqa: F401 - the fixture: 3,000 rows beside the session's


@pytest.fixture
def on_vertex(monkeypatch):
    monkeypatch.setenv("THEMEGEN_GEMINI_BACKEND", "vertex")


def staging_tables(stack) -> dict[str, int]:
    """The batch tier's tables in the staging dataset and their row counts."""
    client = bigquery_client(stack.config.project, stack.env["THEMEGEN_BQ_API_ENDPOINT"])
    dataset = f"{stack.config.project}.{stack.config.dataset}"
    return {t.table_id: client.get_table(f"{dataset}.{t.table_id}").num_rows
            for t in client.list_tables(dataset) if t.table_id.startswith("themegen_batch_")}


def test_a_3000_row_vertex_batch_run_pays_half_through_bigquery_tables_and_asks_online_only_what_the_job_left(
        stack, table_3000, on_vertex, tmp_path):  # noqa: F811 - the fixture imported above
    stack.sim("config", {"batch_turnaround_s": 3.0, "batch_missing_rate": 0.02, "batch_failure_rate": 0.02})
    before = staging_tables(stack)

    result = run_cli(stack, tmp_path, "--tier", "batch", "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    themed, failed, both = settled_rows(stack)
    assert themed + failed == ROWS and both == 0  # every row: themes, or a failure with its reason
    assert themed == sum(not is_empty(r["text"]) for r in table_3000) == summary["rows_succeeded"]
    stats = stack.sim("stats")
    assert stats["batch"]["jobs_created"] == 1 == summary["batch_jobs"]
    assert stats["batch"]["missing"] + stats["batch"]["failed"] > 0  # the job did leave rows behind
    # The job's tables: its requests (one row each) and its output (a row per request not missing).
    [(requests_table, requests), (output_table, outputs)] = sorted(set(staging_tables(stack).items()) - set(before.items()))
    assert output_table.startswith(f"{requests_table}_out_")
    assert requests == stats["batch"]["requests"] and outputs == requests - stats["batch"]["missing"]
    # Online: only the rows the job left, each answered there (the simulator's online answers are valid).
    assert 0 < summary["rows_left_by_batch"] == summary["rows_answered"]
    assert 0 < summary["llm_calls"] == stats["requests"] == summary["llm_calls_fallback"] <= summary["rows_left_by_batch"]
    assert summary["rows_answered_by_batch"] + summary["rows_answered"] + summary["requests_saved"] == themed
    assert summary["tier"] == "batch" and summary["cost_usd_standard"] > 0
    assert summary["cost_usd"] <= 0.55 * summary["cost_usd_standard"]
    assert summary["batch_queued_seconds"] > 0 and summary["batch_processing_seconds"] > 0


async def test_a_vertex_rerun_after_sigkill_attaches_to_the_running_job_and_settles_every_row(stack, on_vertex):
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 8.0})
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:100])

    kill(start_batch_run(stack, 100))
    assert theme_ids(stack) == set()  # killed while its job ran: nothing answered yet

    summary = await generate_themes(rows_limit=100, tier="batch")

    stats = stack.sim("stats")
    assert stats["batch"]["jobs_created"] == 1 == summary.batch_jobs  # attached, not paid twice
    assert theme_ids(stack) == set(wanted) and summary.rows_succeeded == len(wanted)
    assert stats["requests"] == summary.llm_calls == 0


async def test_a_vertex_job_that_ends_failed_fails_the_run_with_its_reason_and_a_retry_submits_anew(stack, on_vertex):
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 1.0, "batch_outcome": "failed"})
    state = await generate_themes(rows_limit=20, tier="batch", return_state=True)
    assert state.is_failed() and "ended JOB_STATE_FAILED: The batch failed (simulated)" in state.message
    assert stack.sim("stats")["requests"] == 0 and theme_ids(stack) == set()

    stack.sim("config", {"batch_outcome": "succeeded"})
    summary = await generate_themes(rows_limit=20, tier="batch")
    assert stack.sim("stats")["batch"]["jobs_created"] == 2 and summary.rows_answered_by_batch > 0
