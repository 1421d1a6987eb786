"""How a flow run ended, as `themegen run` reports it: its state, what it returned or raised.

A run on a worker returns its RunSummary (or raises) in the worker's process. Prefect keeps a flow's
return value only when told to persist it, so `themegen run` tells its runs to (RESULT_ENV, in the
run's environment): the flow's result alone goes to a file under the state dir, and this process
reads it back, the very RunSummary the flow returned or the very exception it raised. The run's
logged traceback stands in for the one a raised exception would carry in this process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterLevel,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import ArtifactSort, LogSort
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from themegen.domain.errors import is_expected, tidy, user_message
from themegen.domain.models import RunSummary

PROGRESS_KEY = "themegen-progress"
_ENGINE_PREFIX = "Flow run encountered an exception: "


def result_env(results_dir: Path) -> dict[str, str]:
    """Prefect settings of a `themegen run` flow run: its own result persisted to `results_dir`, its
    tasks' results not (as in every other run: no task of the flow is cached)."""
    return {"PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true", "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
            "PREFECT_LOCAL_STORAGE_PATH": str(results_dir.resolve())}


@dataclass
class RunOutcome:
    flow_run_id: str | None
    state_name: str
    completed: bool
    message: str | None  # worded for a person: the state message, or the raised exception's
    summary: RunSummary | None  # None: the run stopped before its report
    error: BaseException | None = None  # in process: the exception the run raised, to raise again
    traceback: str | None = None  # on a worker: the traceback the run logged
    expected: bool = True  # the message says all (else the traceback is worth a look)


async def latest_progress(client: PrefectClient, flow_run_id: str) -> float | None:
    """Percent of the rows done, as the run's progress artifact says now (None before it exists)."""
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[PROGRESS_KEY]),
                                       flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])),
        sort=ArtifactSort.CREATED_DESC, limit=1,
    )  # fmt: skip
    return float(artifacts[0].data) if artifacts and artifacts[0].data is not None else None


async def outcome_of(client: PrefectClient, flow_run: FlowRun, results_dir: Path) -> RunOutcome:
    """How a run on a worker ended: its final state and the result it persisted."""
    flow_run_id, state = str(flow_run.id), flow_run.state
    returned = await _returned(state, results_dir)
    summary = returned if isinstance(returned, RunSummary) else None
    raised = returned if isinstance(returned, BaseException) else None
    traceback = None if summary or state.is_completed() else await _logged_traceback(client, flow_run_id)
    if raised is not None:
        message, expected = user_message(raised), is_expected(raised)
    else:  # the flow's own message (a Failed it returned), or an exception whose result is not readable here
        message, expected = run_message(state.message), not (state.message or "").startswith(_ENGINE_PREFIX)
    return RunOutcome(flow_run_id, state.name, state.is_completed(), message, summary, traceback=traceback,
                      expected=expected)


async def _returned(state: Any, results_dir: Path) -> Any:
    """The run's persisted result (RunSummary or exception); None when there is none to read here
    (a worker on another machine, or a run that ended before it could persist one)."""
    if state.data is None:
        return None
    try:
        with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: results_dir.resolve()}):
            return await state.aresult(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - the state and its message still say how the run ended
        return None


async def _logged_traceback(client: PrefectClient, flow_run_id: str) -> str | None:
    """The last traceback the run's process logged at ERROR (the engine logs the exception it failed on)."""
    logs = await client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]), level=LogFilterLevel(ge_=40)),
        sort=LogSort.TIMESTAMP_DESC, limit=20,
    )  # fmt: skip
    return next((log.message for log in logs if "Traceback (most recent call last)" in log.message), None)


def run_message(message: str | None) -> str | None:
    """A state message for a person: the engine's "Flow run encountered an exception: " prefix goes,
    the exception's type name stays (its result could not be read to word it as user_message does)."""
    return tidy(message.removeprefix(_ENGINE_PREFIX)) if message else message
