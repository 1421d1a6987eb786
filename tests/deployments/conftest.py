"""One deployment run per test session, the way a user runs it: `themegen setup`, `prefect deploy
--all`, a process worker on the local pool and `prefect deployment run`, all as subprocesses against
the session stack's Prefect server. test_deploy checks its results, test_ui looks at it in the UI.
A test's own worker stands in for the stack's while it runs (`process_worker`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun

from local_stack import processes
from local_stack import worker as stack_worker
from local_stack.processes import stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = "generate-themes/generate-themes-local"
RUN_TIMEOUT_S = 180


@dataclass(frozen=True)
class DeployedRun:
    flow_run: FlowRun
    worker_log: Path
    ui_url: str  # the Prefect server's root, where it serves the UI


def run_cli(*argv: str, env: dict[str, str]) -> str:
    """Run a CLI from the repo dir, as a user would; fail with its output when it fails."""
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wait_for_final_state(flow_run_id: str, worker: subprocess.Popen, worker_log: Path) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while not (flow_run := client.read_flow_run(flow_run_id)).state.is_final():
            assert worker.poll() is None, f"the worker exited:\n{worker_log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"flow run still {flow_run.state.name} after {RUN_TIMEOUT_S} s:\n{worker_log.read_text()[-3000:]}"
            )
            time.sleep(1)
    return flow_run


def flow_run_id_in(cli_output: str) -> str:
    """The flow run id `prefect deployment run` prints."""
    return re.search(r"UUID: ([0-9a-f-]{36})", cli_output).group(1)


@contextmanager
def stack_worker_paused(stack) -> Iterator[None]:
    """The stack's own worker (local_stack/worker.py) stopped meanwhile, then started again: a test
    that starts a worker with settings of its own needs the pool's runs to reach that one."""
    state_dir = stack.config.state_dir
    stop_process(state_dir, stack_worker.NAME)
    try:
        yield
    finally:
        pid = stack_worker.start_worker(state_dir, stack.env)
        wait_until(lambda: stack_worker.worker_ready(state_dir, stack.env["PREFECT_API_URL"]), 120,
                   stack_worker.LABEL, processes.log_path(state_dir, stack_worker.NAME), pid)


@contextmanager
def process_worker(stack, env: dict[str, str], log_path: Path, limit: int) -> Iterator[subprocess.Popen]:
    """A process worker on the local pool, running at most `limit` flow runs at once, in place of
    the stack's."""
    with stack_worker_paused(stack):
        with log_path.open("w") as log:
            # Own session, so stopping it also stops the flow-run processes it started.
            worker = subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", "themegen-local", "--limit", str(limit)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            yield worker
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


@pytest.fixture(scope="session")
def deployed_run(stack, tmp_path_factory: pytest.TempPathFactory) -> DeployedRun:
    stack.clear_outputs()
    # os.environ holds the stack's settings (PREFECT_API_URL included). THEMEGEN_HOME is what the
    # README tells users to export in their clone: `prefect deploy` stores it as the pull step's dir.
    env = {**os.environ, "THEMEGEN_HOME": str(REPO)}
    bin_dir = Path(sys.executable).parent
    run_cli(str(bin_dir / "themegen"), "setup", env=env)
    run_cli(sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", env=env)

    worker_log = tmp_path_factory.mktemp("worker") / "worker.log"
    # The worker is only needed for this one run: stopped right after it rather than at session end.
    with process_worker(stack, env, worker_log, limit=2) as worker:
        out = run_cli(sys.executable, "-m", "prefect", "deployment", "run", DEPLOYMENT,
                      "--param", "rows_limit=60", "--param", "batch_size=20", env=env)  # fmt: skip
        flow_run = wait_for_final_state(flow_run_id_in(out), worker, worker_log)
    return DeployedRun(flow_run, worker_log, stack.env["PREFECT_API_URL"].removesuffix("/api"))

