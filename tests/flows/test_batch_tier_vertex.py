"""Tier batch on Vertex AI (THEMEGEN_GEMINI_BACKEND=vertex, the production default) end to end on the
local stack: the requests go to a BigQuery table in the emulator, the simulated Vertex AI job reads
it and writes its output table there, the run reads that back by key; rows the job left missing or
failed are asked online (Vertex AI's generateContent), and a killed run's rerun attaches to its job."""

from __future__ import annotations

import pytest

from flows.generate_themes import generate_themes
from local_stack.bigquery import bigquery_client
from tests.flows.helpers import nonempty, source_rows, theme_ids

# The Gemini API tier's tests, run again on Vertex AI (imported under names pytest does not collect).
from tests.flows.test_batch_tier import (
    test_a_3000_row_batch_run_pays_half_and_asks_online_only_what_the_job_left as pays_half_and_asks_online_only_what_the_job_left,
)
from tests.flows.test_batch_tier import (
    test_a_job_that_ends_failed_fails_the_run_without_online_calls_and_a_retry_submits_anew as failed_job_fails_the_run,
)
from tests.flows.test_batch_tier import (
    test_a_rerun_after_sigkill_attaches_to_the_running_job_and_settles_every_row as rerun_after_sigkill_attaches,
)
from tests.flows.test_local_themes import table_3000  # noqa: F401 - the fixture: 3,000 rows beside the session's


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
    before = staging_tables(stack)

    pays_half_and_asks_online_only_what_the_job_left(stack, table_3000, tmp_path)

    # The job's tables: its requests (one row each) and its output (a row per request not missing).
    stats = stack.sim("stats")["batch"]
    [(requests_table, requests), (output_table, outputs)] = sorted(set(staging_tables(stack).items()) - set(before.items()))
    assert output_table.startswith(f"{requests_table}_out_")
    assert requests == stats["requests"] and outputs == requests - stats["missing"] > 0


async def test_a_vertex_rerun_after_sigkill_attaches_to_the_running_job_and_settles_every_row(stack, on_vertex):
    await rerun_after_sigkill_attaches(stack)


async def test_a_vertex_job_that_ends_failed_fails_the_run_with_its_reason_and_a_retry_submits_anew(stack, on_vertex):
    await failed_job_fails_the_run(stack)


async def test_a_partially_succeeded_vertex_job_is_read_and_its_failed_rows_go_online(stack, on_vertex):
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 1.0, "batch_outcome": "partially_succeeded", "batch_failure_rate": 0.2})
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:40])

    summary = await generate_themes(rows_limit=40, tier="batch")

    failed = stack.sim("stats")["batch"]["failed"]
    assert failed > 0 and summary.rows_answered_by_batch > 0 and summary.rows_left_by_batch > 0
    assert theme_ids(stack) == set(wanted) and summary.rows_succeeded == len(wanted)
