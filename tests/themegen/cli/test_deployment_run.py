"""`themegen run` starts a run of the generate-themes-local deployment on the stack's worker and follows
it: the run carries the command's options and its shell's settings, Ctrl-C cancels it, and without a
worker the command says how to get one. Each command runs as a person runs it, on the session stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from themegen.cli.app import app
from themegen.cli.deployment_run import CHECKOUT, NoWorker, describe, require_worker
from tests.flows.helpers import nonempty, source_rows, theme_ids

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "themegen.cli.app"]


def test_the_run_is_a_deployment_run_with_the_command_s_options_and_settings(stack, tmp_path):
    stack.clear_outputs()
    # A setting the stack's worker does not have: it must reach the run from this shell.
    env = {**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path), "THEMEGEN_MAX_ATTEMPTS": "3"}
    result = subprocess.run([*CLI, "run", "--rows", "40", "--batch-size", "20", "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    rows = source_rows(stack)
    assert theme_ids(stack) == set(nonempty(rows, sorted(rows)[:40]))
    assert stack.sim("stats")["requests"] == summary["llm_calls"] > 0
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(summary["flow_run_id"])
        deployment = client.read_deployment(flow_run.deployment_id)
    assert (deployment.name, flow_run.work_pool_name) == ("generate-themes-local", "themegen-local")
    assert flow_run.parameters == {"rows_limit": 40, "batch_size": 20}
    run_env = flow_run.job_variables["env"]
    assert run_env["THEMEGEN_MAX_ATTEMPTS"] == "3" and run_env["THEMEGEN_HOME"] == str(CHECKOUT)
    assert flow_run.job_variables["command"].startswith(sys.executable)  # this checkout's Python


def test_ctrl_c_cancels_the_run_on_the_worker(stack, tmp_path):
    stack.clear_outputs()
    stack.sim("config", {"latency_s": 0.5})  # slow enough to be stopped midway
    env = {**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path)}
    command = [*CLI, "run", "--rows", "200", "--batch-size", "10", "--max-parallel", "1"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while stack.sim("stats")["ok"] < 5:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run sent nothing"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
        stack.sim("config", {"latency_s": 0.0})

    assert process.returncode == 130, err
    assert "Ctrl-C: flow run" in err and "cancelled on the worker" in err, err
    sent = stack.sim("stats")["requests"]
    time.sleep(3)
    assert stack.sim("stats")["requests"] == sent < 200  # nothing sends any more


async def test_without_a_worker_the_command_says_how_to_get_one():
    class NoWorkers:
        async def read_workers_for_work_pool(self, name):
            return []

    with pytest.raises(NoWorker) as raised:
        await require_worker(NoWorkers(), "http://127.0.0.1:4200/api")
    message = str(raised.value)
    assert "themegen-local" in message and "`themegen stack up`" in message and "--in-process" in message


@pytest.mark.parametrize(("args", "flags"), [(["--help"], ["--debug"]), (["run", "--help"], ["--json", "--in-process"])])
def test_help_shows_the_flags_as_flags(args, flags, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, args)
    for flag in flags:
        [line] = [line for line in result.output.splitlines() if f" {flag} " in line]
        assert "<bool>" not in line, line


def test_the_live_line_says_the_eta_or_what_the_run_waits_for():
    assert describe("Running", 25.0, 30.0) == "ETA 00:01:30  on the worker"
    assert describe("Running", 0.0, 5.0) == "ETA -:--:--  on the worker"  # no rate yet, no guess
    assert describe("Late", None, 0.0) == "Late: waiting for the worker of themegen-local"
    assert describe("Cancelling", 40.0, 9.0) == "Cancelling"
