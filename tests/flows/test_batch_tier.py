"""Tier batch end to end on the local stack (BigQuery emulator, simulated Gemini with its batch job
and Files APIs, Spanner emulator): one job answers the rows at the batch price, the rows it left
missing or invalid are asked online, a killed run's rerun attaches to its job."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.states import Cancelling

from flows.generate_themes import generate_themes
from tests.flows.helpers import assert_rows_add_up, is_empty, nonempty, source_rows, theme_ids
from tests.flows.test_bad_input import report_markdown
from tests.flows.test_local_themes import ROWS, table_3000  # noqa: F401 - the fixture: 3,000 rows beside the session's
from themegen.domain.models import RunSummary

REPO = Path(__file__).resolve().parents[2]


def run_cli(stack, tmp_path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "themegen.cli.app", "run", *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=600, check=False)


def settled_rows(stack) -> tuple[int, int, int]:
    """(rows with themes, rows with a failure that names a reason, rows in both), by plain SQL."""
    [[themed, failed, both]] = stack.read_table(
        f"""SELECT (SELECT COUNT(*) FROM {stack.config.themes_table}),
                   (SELECT COUNT(*) FROM {stack.config.failures_table} AS f
                      WHERE f.Reason IS NOT NULL AND f.Reason != ''),
                   (SELECT COUNT(*) FROM {stack.config.themes_table} AS t
                      JOIN {stack.config.failures_table} AS f ON t.SourceId = f.SourceId)""")
    return themed, failed, both


def test_a_3000_row_batch_run_pays_half_and_asks_online_only_what_the_job_left(
        stack, table_3000, tmp_path):  # noqa: F811 - the fixture imported above
    stack.sim("config", {"batch_turnaround_s": 3.0, "batch_missing_rate": 0.02, "batch_failure_rate": 0.02})

    result = run_cli(stack, tmp_path, "--tier", "batch", "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    themed, failed, both = settled_rows(stack)
    assert themed + failed == ROWS and both == 0  # every row: themes, or a failure with its reason
    assert themed == sum(not is_empty(r["text"]) for r in table_3000) == summary["rows_succeeded"]
    stats = stack.sim("stats")
    assert stats["batch"]["jobs_created"] == 1 == summary["inference_jobs"]
    assert stats["batch"]["missing"] + stats["batch"]["failed"] > 0  # the job did leave rows behind
    # Online: only the rows the job left, each answered there (the simulator's online answers are valid).
    assert 0 < summary["rows_left_by_batch"] == summary["rows_answered"]
    left = summary["rows_left_by_batch"]
    assert 0 < summary["llm_calls"] == stats["requests"] == summary["llm_calls_fallback"] <= left
    assert summary["rows_answered_by_batch"] + summary["rows_answered"] + summary["requests_saved"] == themed
    assert_rows_add_up(RunSummary.model_validate(summary))
    assert summary["tier"] == "batch" and summary["cost_usd_standard"] > 0
    assert summary["cost_usd"] <= 0.55 * summary["cost_usd_standard"]
    assert summary["batch_queued_seconds"] > 0 and summary["batch_processing_seconds"] > 0


def start_batch_run(stack, rows: int) -> subprocess.Popen:
    """`themegen run --tier batch` in its own process (--in-process: the flow's, which the tests kill),
    returned once its job exists."""
    command = [sys.executable, "-m", "themegen.cli.app", "run", "--rows", str(rows), "--tier", "batch", "--in-process"]
    env = os.environ | {"THEMEGEN_STATE_DIR": str(stack.config.state_dir)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while stack.sim("stats")["batch"]["jobs_created"] < 1:
        assert process.poll() is None, "the run ended before its job was created"
        assert time.monotonic() < deadline, "no batch job was created"
        time.sleep(0.05)
    return process


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


async def test_a_rerun_after_sigkill_attaches_to_the_running_job_and_settles_every_row(stack):
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 8.0})
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:100])

    kill(start_batch_run(stack, 100))
    assert theme_ids(stack) == set()  # killed while its job ran: nothing answered yet

    summary = await generate_themes(rows_limit=100, tier="batch")

    stats = stack.sim("stats")
    assert stats["batch"]["jobs_created"] == 1 == summary.inference_jobs  # attached, not paid twice
    assert theme_ids(stack) == set(wanted) and summary.rows_succeeded == len(wanted)
    assert stats["requests"] == summary.llm_calls == 0
    report = await report_markdown(summary.flow_run_id)
    assert f"| rows answered by the batch jobs | {summary.rows_answered_by_batch} |" in report
    assert "| batch seconds queued / processing (as polled) |" in report


async def test_a_job_that_ends_failed_fails_the_run_without_online_calls_and_a_retry_submits_anew(stack):
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 1.0, "batch_outcome": "failed"})
    state = await generate_themes(rows_limit=20, tier="batch", return_state=True)
    assert state.is_failed()
    assert ("ended JOB_STATE_FAILED: The batch failed (simulated); retry this flow run to submit a new job"
            in state.message)
    assert stack.sim("stats")["requests"] == 0 and theme_ids(stack) == set()  # not silently paid at full price

    stack.sim("config", {"batch_outcome": "succeeded"})
    summary = await generate_themes(rows_limit=20, tier="batch")
    assert stack.sim("stats")["batch"]["jobs_created"] == 2 and summary.rows_answered_by_batch > 0


async def test_a_run_that_must_end_before_its_job_leaves_it_running_for_a_later_run(stack, monkeypatch):
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 15.0})
    monkeypatch.setenv("THEMEGEN_RUN_TIMEOUT_S", "3")  # a Cloud Run job's timeout, shortened
    state = await generate_themes(rows_limit=20, tier="batch", return_state=True)
    assert state.is_failed() and "it goes on without this flow run" in state.message
    assert stack.sim("stats")["batch"]["jobs_cancelled"] == 0 and stack.sim("stats")["requests"] == 0

    monkeypatch.delenv("THEMEGEN_RUN_TIMEOUT_S")
    summary = await generate_themes(rows_limit=20, tier="batch")
    assert stack.sim("stats")["batch"]["jobs_created"] == 1 and summary.rows_answered_by_batch > 0
    async with get_client() as client:  # the job's progress, in the flow run's UI
        [progress] = await client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[summary.flow_run_id]),
            key=ArtifactFilterKey(any_=["themegen-batch-job"])))
    assert progress.data == 100.0 and summary.flow_run_id and "requests answered" in progress.description


async def test_cancelling_a_served_flow_run_in_the_prefect_api_cancels_its_job(stack, tmp_path):
    """The real path: a runner (`serve`) runs the flow, the run is set Cancelling through the API,
    the runner stops it and runs the flow's on_cancellation hook."""
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 600.0})
    # From the entrypoint, as a deployment runs it (the runner starts each flow run from it).
    serve = ("from prefect import serve; from prefect.deployments.runner import RunnerDeployment; "
             "serve(RunnerDeployment.from_entrypoint('flows/generate_themes.py:generate_themes', name='batch-cancel'))")
    runner = subprocess.Popen([sys.executable, "-c", serve], cwd=REPO,  # noqa: ASYNC220 - started once
                              env=os.environ | {"PREFECT_RUNNER_POLL_FREQUENCY": "1"},
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / "runner.log").open("w"))
    try:
        async with get_client() as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    deployment = await client.read_deployment_by_name("generate-themes/batch-cancel")
                    break
                except Exception:  # noqa: BLE001 - not registered yet
                    assert time.monotonic() < deadline and runner.poll() is None, "the runner did not start"
                    await asyncio.sleep(0.5)
            flow_run = await client.create_flow_run_from_deployment(
                deployment.id, parameters={"rows_limit": 20, "tier": "batch"})
            deadline = time.monotonic() + 120
            while stack.sim("stats")["batch"]["jobs_created"] < 1:
                assert time.monotonic() < deadline, "no batch job was created"
                await asyncio.sleep(0.2)
            await client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
            deadline = time.monotonic() + 90
            while stack.sim("stats")["batch"]["jobs_cancelled"] < 1:
                assert time.monotonic() < deadline, "the job was not cancelled with the flow run"
                await asyncio.sleep(0.5)
    finally:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()
