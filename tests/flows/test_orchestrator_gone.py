"""The Prefect server SIGKILLed mid-run and not back while the run lasts: the `themegen run` process
ends by itself (the watchdog) or on SIGTERM, within its bound, and loses no answered row. Spanner,
the row cache and the simulator's counters are the witnesses; the server is restarted afterwards
for the tests that follow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.sorting import FlowRunSort

from flows.generate_themes import generate_themes
from local_stack import prefect_server
from local_stack.processes import running_pid, wait_until
from tests.flows.helpers import distinct_texts, nonempty, source_rows, theme_ids
from tests.flows.test_crash_safety import cached_answers
from tests.flows.test_outages import REPO, kill, wait_for_answers
from themegen.runtime import sigterm, watchdog

ROWS, BATCH = 300, 20
TIMEOUT_S = 10  # THEMEGEN_ORCHESTRATOR_TIMEOUT_S of these runs (the default is minutes)
BOUND_S = 300  # the bound: the process is gone within 5 minutes of its last write
SIGTERM_BOUND_S = 30


def restart_prefect(stack) -> None:
    """The killed server started again, as `themegen stack up` would, and the simulator fast again."""
    if running_pid(stack.config.state_dir, prefect_server.NAME) is None:
        prefect_server.start_prefect(stack.config.state_dir, stack.config.prefect_port)
        wait_until(lambda: prefect_server.prefect_ready(stack.config.prefect_port), 120, "prefect server",
                   stack.config.state_dir / "logs" / "prefect.log")
    stack.sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0})


@pytest.fixture
def prefect_comes_back(stack):
    """For the tests that follow: the server is back once a test is done with it."""
    yield
    restart_prefect(stack)


def start_run(stack, timeout_s: float, in_process: bool = True) -> subprocess.Popen:
    """`themegen run` as a subprocess: the flow in that process (--in-process), or on the stack's worker
    with the command following it."""
    stack.sim("config", {"latency_s": 0.25, "latency_jitter_s": 0.1})  # slow answers: the kill lands mid-run
    command = [sys.executable, "-m", "themegen.cli.app", "run", "--rows", str(ROWS), "--batch-size", str(BATCH),
               "--max-parallel", "2", "--json"] + ["--in-process"] * in_process
    env = os.environ | {"THEMEGEN_STATE_DIR": str(stack.config.state_dir),
                        "THEMEGEN_ORCHESTRATOR_TIMEOUT_S": str(timeout_s)}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def terminate(process: subprocess.Popen) -> tuple[str, float]:
    """SIGTERM: the process's stderr, and how long it took to end."""
    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    _, stderr = process.communicate(timeout=SIGTERM_BOUND_S + 30)
    return stderr, time.monotonic() - signalled


def last_write(stack) -> datetime:
    """When Spanner last committed a row of the run (its commit timestamps)."""
    [[themes]] = stack.read_table("SELECT MAX(GeneratedAt) FROM Themes")
    [[failures]] = stack.read_table("SELECT MAX(FailedAt) FROM ThemeFailures")
    return max(t for t in (themes, failures) if t is not None)


def flow_processes(stack) -> list[int]:
    """The pids of the flow-run processes the stack's worker started for this stack (read from /proc,
    not from our code): `python -m prefect.engine` with this stack's THEMEGEN_STATE_DIR."""
    mark = f"THEMEGEN_STATE_DIR={stack.config.state_dir}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            found = b"prefect.engine" in cmdline and mark in (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if found:
            pids.append(int(entry.name))
    return pids


def wait_gone(pids: list[int], timeout_s: float) -> datetime:
    """When the last of `pids` had exited (polled twice a second)."""
    deadline = time.monotonic() + timeout_s
    while any(Path(f"/proc/{pid}").exists() and b"zombie" not in _status(pid) for pid in pids):
        assert time.monotonic() < deadline, f"flow processes {pids} still running after {timeout_s} s"
        time.sleep(0.5)
    return datetime.now(timezone.utc)


def _status(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return b"zombie"  # gone between the two reads


async def test_prefect_server_gone_for_good_the_run_ends_by_itself_after_its_last_write(stack, prefect_comes_back):
    stack.clear_outputs()
    rows = source_rows(stack)
    wanted = set(nonempty(rows, sorted(rows)[:ROWS]))
    process = start_run(stack, TIMEOUT_S)
    try:
        wait_for_answers(stack, process, 60)
        kill(stack, prefect_server.NAME)
        killed = time.monotonic()
        _, stderr = process.communicate(timeout=BOUND_S + 60)
        exited, ended_after_kill = datetime.now(timezone.utc), time.monotonic() - killed
    finally:
        process.kill()
    stats = stack.sim("stats")
    after_last_write = (exited - last_write(stack)).total_seconds()
    print(f"exit {process.returncode}: {ended_after_kill:.1f} s after the kill, {after_last_write:.1f} s after "
          f"the last Spanner write")

    assert process.returncode == watchdog.EXIT_CODE, stderr[-3000:]
    # It waited out the timeout after its last write, and not much more (probe period and timeout).
    assert TIMEOUT_S - 1 <= after_last_write <= min(TIMEOUT_S + 30, BOUND_S), stderr[-3000:]
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"themegen: the Prefect API at {stack.env['PREFECT_API_URL']} has not answered"), line
    assert "nothing is lost" in line and "retry this flow run or run again" in line
    assert_all_answered_rows_written(stack, stats, rows, wanted)


async def test_prefect_server_gone_for_good_a_worker_run_and_its_terminal_both_end(stack, prefect_comes_back):
    """The default `themegen run`: the flow runs in a process the stack's worker started, and the command
    follows it through the API. Both end by themselves once the API is gone for good, within the bound."""
    stack.clear_outputs()
    rows = source_rows(stack)
    wanted = set(nonempty(rows, sorted(rows)[:ROWS]))
    process = start_run(stack, TIMEOUT_S, in_process=False)
    try:
        wait_for_answers(stack, process, 60)
        flows = flow_processes(stack)
        kill(stack, prefect_server.NAME)
        _, stderr = process.communicate(timeout=BOUND_S + 60)
        flow_gone = wait_gone(flows, BOUND_S)
    finally:
        process.kill()
    stats = stack.sim("stats")
    after_last_write = (flow_gone - last_write(stack)).total_seconds()
    print(f"worker run: the flow process ended {after_last_write:.1f} s after the last Spanner write; "
          f"the command exited {process.returncode}")

    assert len(flows) == 1, f"expected the run's one flow process, found {flows}"
    assert after_last_write <= min(TIMEOUT_S + 30, BOUND_S), stderr[-3000:]
    # The command: non-zero, one error line naming the API and saying the rows are safe.
    assert process.returncode == 1, stderr[-3000:]
    line = stderr.strip().splitlines()[-1]
    assert stack.env["PREFECT_API_URL"] in line and "has not answered" in line, line
    assert "rows it answered are in the sink or the row cache" in line, line
    assert_all_answered_rows_written(stack, stats, rows, wanted)


def assert_all_answered_rows_written(stack, stats: dict, rows: dict, wanted: set[str]) -> None:
    """Every row the simulator answered is in Spanner (counted there, not by the pipeline), and every
    row was answered once: the batches went on without the API."""
    assert set(stats["row_requests"]) <= theme_ids(stack) == wanted
    assert stats["ok"] == stats["requests"] == distinct_texts(rows, wanted)


@pytest.mark.parametrize("moment", ["while_generating", "after_the_rows_are_written"])
async def test_sigterm_ends_the_run_within_30_s_while_its_prefect_api_is_dead(stack, prefect_comes_back, moment):
    stack.clear_outputs()
    rows = source_rows(stack)
    wanted = set(nonempty(rows, sorted(rows)[:ROWS]))
    process = start_run(stack, timeout_s=3_600)  # the watchdog stays out of it: SIGTERM alone ends the run
    try:
        wait_for_answers(stack, process, 60)
        kill(stack, prefect_server.NAME)
        if moment == "after_the_rows_are_written":
            deadline = time.monotonic() + 120
            while theme_ids(stack) != wanted:  # the hang: every row written, the API awaited
                assert time.monotonic() < deadline and process.poll() is None, "the rows were not all written"
                time.sleep(0.5)
        stderr, took = terminate(process)
    finally:
        process.kill()
    print(f"{moment}: exit {process.returncode} {took:.1f} s after SIGTERM")

    assert process.returncode == sigterm.EXIT_CODE and took <= SIGTERM_BOUND_S, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith("themegen: SIGTERM ")
    if moment == "after_the_rows_are_written":
        assert theme_ids(stack) == wanted
        return
    # Cut short mid-run: nothing answered is lost; with the server back, a rerun pays only for the
    # texts that had no answer yet and completes every row.
    sent, texts_paid = stack.sim("stats")["requests"], cached_answers(stack, "texts")
    restart_prefect(stack)
    summary = await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    assert stack.sim("stats")["requests"] - sent == summary.llm_calls == distinct_texts(rows, wanted) - texts_paid
    assert theme_ids(stack) == wanted


async def test_sigterm_with_the_api_up_is_still_handled_by_prefect(stack):
    """The guard hands the signal on: Prefect reports the run Crashed and ends the process as before."""
    stack.clear_outputs()
    started = datetime.now(timezone.utc)
    process = start_run(stack, TIMEOUT_S)
    try:
        wait_for_answers(stack, process, 60)
        stderr, took = terminate(process)
    finally:
        process.kill()
        stack.sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0})
    # Ended by Prefect's own handling (TerminationSignal out of the CLI), before the guard's deadline.
    assert process.returncode != 0 and took < sigterm.GRACE_S, stderr[-3000:]
    assert "themegen: SIGTERM" not in stderr
    # This test's run: started in that process (no deployment) after the test began. An earlier test's
    # worker run, left Running while its server was gone, may be picked up again once the server is back.
    async with get_client() as client:
        runs = await client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=20)
    [run] = [r for r in runs if r.deployment_id is None and r.created and r.created >= started]
    assert run.state.is_crashed(), run.state
