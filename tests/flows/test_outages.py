"""Real outages mid-run: a server of the local stack SIGKILLed while a `themegen run` process works.
Spanner, the row cache and the simulator's counters are the witnesses, counted independently of
the pipeline's own numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prefect.client.orchestration import get_client

from flows.generate_themes import generate_themes
from local_stack import prefect_server, spanner
from local_stack.processes import running_pid, wait_until
from local_stack.stack import up
from tests.flows.helpers import distinct_texts, nonempty, source_rows, theme_ids
from tests.flows.test_crash_safety import cached_answers

REPO = Path(__file__).resolve().parents[2]
ROWS, BATCH = 300, 20


def start_run(stack, **env: str) -> subprocess.Popen:
    stack.sim("config", {"latency_s": 0.25, "latency_jitter_s": 0.1})  # slow answers: the kill lands mid-run
    command = [sys.executable, "-m", "themegen.cli.app", "run", "--rows", str(ROWS), "--batch-size", str(BATCH),
               "--max-parallel", "2", "--json"]
    return subprocess.Popen(command, cwd=REPO, env=os.environ | {"THEMEGEN_STATE_DIR": str(stack.config.state_dir)} | env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_answers(stack, process: subprocess.Popen, answers: int) -> None:
    deadline = time.monotonic() + 120
    while stack.sim("stats")["ok"] < answers:
        assert process.poll() is None, f"the run ended before the outage: {process.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def kill(stack, name: str) -> None:
    os.killpg(running_pid(stack.config.state_dir, name), signal.SIGKILL)


async def test_prefect_server_killed_mid_run_loses_nothing_and_the_run_still_ends(stack):
    stack.clear_outputs()
    rows = source_rows(stack)
    wanted = set(nonempty(rows, sorted(rows)[:ROWS]))
    process = start_run(stack)
    try:
        wait_for_answers(stack, process, 60)
        kill(stack, prefect_server.NAME)
        time.sleep(15)  # batches go on without the API
        prefect_server.start_prefect(stack.config.state_dir, stack.config.prefect_port)
        wait_until(lambda: prefect_server.prefect_ready(stack.config.prefect_port), 120, "prefect server",
                   stack.config.state_dir / "logs" / "prefect.log")
        output, _ = process.communicate(timeout=400)
    finally:
        process.kill()
        stack.sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0})
    stats = stack.sim("stats")
    # Every row the simulator answered is in Spanner, and every row was answered exactly once.
    assert theme_ids(stack) == wanted, output[-3000:]
    assert stats["ok"] == stats["requests"] == distinct_texts(rows, wanted)  # identical texts are paid once
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["rows_succeeded"] == len(wanted) and summary["llm_calls"] == stats["requests"]
    async with get_client() as client:
        run = await client.read_flow_run(summary["flow_run_id"])
    assert run.state.is_completed(), run.state

    stack.sim("reset", {})
    rerun = await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    assert stack.sim("stats")["requests"] == rerun.llm_calls == 0
    assert rerun.rows_already_done == len(wanted)


async def test_spanner_killed_mid_run_stops_spending_names_spanner_and_a_rerun_pays_only_the_unanswered(stack):
    stack.clear_outputs()
    rows = source_rows(stack)
    wanted = set(nonempty(rows, sorted(rows)[:ROWS]))
    process = start_run(stack, THEMEGEN_SPANNER_DEADLINE_S="5")
    try:
        wait_for_answers(stack, process, 60)
        kill(stack, spanner.NAME)
        output, _ = process.communicate(timeout=240)
    finally:
        process.kill()
        stack.sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0})
    try:
        _spanner_killed_mid_run_ends_as_it_says(stack, process, output, wanted)
    finally:
        cached, texts_paid = cached_answers(stack), cached_answers(stack, "texts")
        up(stack.config)  # `themegen stack up`: the emulator is back, whatever the checks above found
    stack.sim("reset", {})
    rerun = await generate_themes(rows_limit=ROWS, batch_size=BATCH)

    assert stack.sim("stats")["requests"] == rerun.llm_calls == distinct_texts(rows, wanted) - texts_paid
    assert rerun.rows_from_cache + rerun.rows_from_same_text == len(wanted) - rerun.rows_answered >= cached
    assert theme_ids(stack) == wanted


def _spanner_killed_mid_run_ends_as_it_says(stack, process, output: str, wanted: set[str]) -> None:
    stats = stack.sim("stats")
    assert process.returncode != 0
    assert "Spanner themegen/themegen" in output and "THEMEGEN_SPANNER_DEADLINE_S" in output, output[-3000:]
    assert "Traceback" not in output.split("themegen run")[-1], output[-5000:]
    summary = json.loads(output.strip().splitlines()[-1])
    cached = cached_answers(stack)
    # The summary's counts are true: every call paid, every answer, and what did not reach Spanner.
    assert summary["llm_calls"] == stats["requests"] and summary["rows_answered"] == stats["ok"] == cached, output[-5000:]
    settled = summary["rows_answered"] + summary["rows_from_same_text"]  # the latter took an identical text's answer
    assert summary["rows_not_written"] > 0 and summary["themes_written"] + summary["rows_not_written"] == settled
    assert stats["ok"] < len(wanted)  # the dead sink stopped the spending
