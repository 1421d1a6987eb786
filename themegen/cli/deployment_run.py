"""`themegen run` as a deployment run: the flow runs on a worker of the `themegen-local` process pool,
never in the terminal's process, so the Prefect UI offers Retry for every run.

- The deployment `generate-themes/generate-themes-local` of this checkout is registered (again) before
  each run: it changes into `{{ $THEMEGEN_HOME }}`, which each run's own environment names, so
  two checkouts against one Prefect server each run their own code.
- What the command was given travels with the flow run: its flags as parameters, and as job variables
  the environment of the shell that counts for the pipeline (every THEMEGEN_* variable, stack.env's
  settings with the shell's values winning, the Google clients' variables) plus this checkout's Python.
  A process worker puts a run's job-variable env over its own, and a Retry reuses the run's job
  variables, so the worker's environment never replaces what the command was given.
- The terminal follows the run: its state, and its progress artifact for the live line; how it ended
  comes from the result the run persisted (run_outcome.py).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import FlowRun, WorkerStatus
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.states import Cancelled, Cancelling
from prefect.utilities.callables import parameter_schema
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from flows.generate_themes import generate_themes
from local_stack.stack import PREFECT_RUN_ENV
from local_stack.worker import POOL
from themegen.cli.output import STACK_HINT
from themegen.cli.run_outcome import latest_progress

DEPLOYMENT = "generate-themes-local"
ENTRYPOINT = "flows/generate_themes.py:generate_themes"
CHECKOUT = Path(__file__).resolve().parents[2]  # the clone this `themegen` runs from
# Read by the Google clients themselves (credentials, project, emulators), not through Settings.
GOOGLE_VARIABLES = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "SPANNER_EMULATOR_HOST",
                    "SPANNER_DISABLE_BUILTIN_METRICS", "BIGQUERY_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
POLL_S = 1.0


class NoWorker(RuntimeError):
    """Nothing serves the work pool the deployment runs on."""


class PrefectApiLost(RuntimeError):
    """The Prefect API stopped answering while the command followed a run."""


def run_env(stack_keys: list[str]) -> dict[str, str]:
    """The run's environment as this shell gives it (stack.env already loaded under the shell's values)."""
    env = {key: os.environ[key] for key in (*stack_keys, *GOOGLE_VARIABLES) if key in os.environ}
    env |= {key: value for key, value in os.environ.items() if key.startswith("THEMEGEN_")}
    env["THEMEGEN_HOME"] = str(CHECKOUT)  # the pull step's directory: this checkout, whatever the shell says
    return env


def job_variables(env: dict[str, str]) -> dict[str, Any]:
    # The command: this checkout's Python (its installed packages), not the one the worker runs on.
    return {"env": env, "working_dir": str(CHECKOUT), "command": shlex.join([sys.executable, "-m", "prefect.engine"])}


async def register_deployment(client: PrefectClient) -> Any:
    """Create or update the deployment (Prefect matches it by flow and name); returns its id."""
    flow_id = await client.create_flow_from_name(generate_themes.name)
    return await client.create_deployment(
        flow_id=flow_id, name=DEPLOYMENT, entrypoint=ENTRYPOINT, work_pool_name=POOL,
        description="Every source row (or rows_limit of them) on a local process worker.",
        # As prefect.yaml's, except that the directory is left for each run's environment to name.
        pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $THEMEGEN_HOME }}"}}],
        job_variables={"env": {**PREFECT_RUN_ENV, "THEMEGEN_HOME": str(CHECKOUT)}},
        parameter_openapi_schema=parameter_schema(generate_themes).model_dump_for_openapi(),
    )  # fmt: skip


async def require_worker(client: PrefectClient, api_url: str) -> None:
    """Fail now, not after a run waits forever in Scheduled, when no worker serves the pool."""
    try:
        workers = await client.read_workers_for_work_pool(POOL)
    except ObjectNotFound:
        workers = []
    if not any(worker.status == WorkerStatus.ONLINE for worker in workers):
        raise NoWorker(f"no worker serves the work pool {POOL!r} at {api_url}: `themegen stack up` starts one "
                       f"(or run `prefect worker start --pool {POOL}`); `themegen run --in-process` runs "
                       f"without one, with no Retry in the UI. ({STACK_HINT})")


async def start_run(parameters: dict[str, Any], env: dict[str, str], api_url: str) -> FlowRun:
    async with get_client() as client:
        await require_worker(client, api_url)
        deployment_id = await register_deployment(client)
        return await client.create_flow_run_from_deployment(
            deployment_id, parameters=parameters, job_variables=job_variables(env))


class RunLine:
    """The live line on stderr while a worker runs the flow: the share of rows done (the run's
    progress artifact), or what the run waits for; a terminal only, as ProgressLine."""

    def __init__(self, console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        self._bar = Progress(TextColumn("rows"), BarColumn(bar_width=20), TaskProgressColumn(),
                             TextColumn("{task.fields[note]}"), console=console, transient=True,
                             refresh_per_second=2, disable=not console.is_terminal)
        self._task = self._bar.add_task("rows", total=100, note="")
        self._started: float | None = None

    def __enter__(self) -> RunLine:
        self._bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._bar.stop()

    def show(self, state: str, percent: float | None) -> None:
        if state == "Running" and percent is not None and self._started is None:
            self._started = time.monotonic()  # the rate counts from the first percent seen
        seconds = time.monotonic() - self._started if self._started is not None else 0.0
        self._bar.update(self._task, completed=percent or 0, note=describe(state, percent, seconds))


def describe(state: str, percent: float | None, seconds: float) -> str:
    """The text after the bar: the ETA at the rate so far, or what the run waits for."""
    if state != "Running" or percent is None:
        waiting = state in ("Scheduled", "Late", "Pending", "AwaitingRetry")
        return f"{state}: waiting for the worker of {POOL}" if waiting else state
    left = seconds * (100 - percent) / percent if percent and seconds else None
    eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left is not None and left < 86_400 else "-:--:--"
    return f"ETA {eta}  on the worker"


async def follow(flow_run_id: Any, line: RunLine, patience_s: float) -> FlowRun:
    """Poll the run until it reaches a final state. An unreachable API is asked again every POLL_S for
    `patience_s` (THEMEGEN_ORCHESTRATOR_TIMEOUT_S, the flow process's own bound on a silent API), then
    the last error is raised: the terminal ends about when the run's process does.

    Prefect's client would retry each call for minutes on its own (PREFECT_CLIENT_MAX_RETRIES), which
    would stretch the bound past `patience_s`; here every call is tried once, and this loop retries."""
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
        async with get_client() as client:
            return await _poll(client, flow_run_id, line, patience_s)


async def _poll(client: PrefectClient, flow_run_id: Any, line: RunLine, patience_s: float) -> FlowRun:
    failing_since = None
    while True:
        try:
            flow_run = await client.read_flow_run(flow_run_id)
            if flow_run.state and flow_run.state.is_final():
                return flow_run
            line.show(flow_run.state.name if flow_run.state else "Scheduled",
                      await latest_progress(client, str(flow_run_id)))
            failing_since = None
        except (httpx.HTTPError, OSError):
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > patience_s:
                raise
            line.show("the Prefect API does not answer; asking again", None)
        await asyncio.sleep(POLL_S)


async def cancel(flow_run_id: Any, wait_s: float = 30.0) -> FlowRun:
    """Cancel the run: the worker stops its process (a run not picked up yet is cancelled at once)."""
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        if not flow_run.state.is_final():
            waiting = flow_run.state.is_scheduled() or flow_run.state.is_pending()
            state = Cancelled if waiting else Cancelling
            await client.set_flow_run_state(flow_run_id, state(message="Ctrl-C in `themegen run`"), force=True)
        deadline = time.monotonic() + wait_s
        while not (flow_run := await client.read_flow_run(flow_run_id)).state.is_final() \
                and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        return flow_run
