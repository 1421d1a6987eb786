"""How a flow run ended, as `themegen run` reports it: its state, its message, its numbers.

A run on a worker returns its RunSummary in another process, and Prefect keeps no return value it
was not told to persist, so the numbers come back from the run's `themegen-summary` and
`themegen-failures` table artifacts (the report the UI shows), as the sharded flow reads its
children's: costs rounded as the report rounds them, at most its three example ids per failure
reason, and no rows_left_by_batch, which the table leaves out. A run that failed before its report
has its state message, and the traceback its process logged to the Prefect API.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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

from themegen.domain.errors import tidy
from themegen.domain.models import FailureGroup, RunSummary

SUMMARY_KEY, FAILURES_KEY, PROGRESS_KEY = "themegen-summary", "themegen-failures", "themegen-progress"
# The summary artifact's metrics (themegen/report/tables.py, summary_table) that are RunSummary fields
# as they are; costs and the batch tier's pairs are read below. A metric missing from the table (the
# batch tier's, on another tier) leaves the field at its default, as the flow left it.
_FIELDS = {
    "rows total": "rows_total", "rows succeeded": "rows_succeeded", "rows failed": "rows_failed",
    "rows already done (the sink had them)": "rows_already_done",
    "rows from the row cache (paid earlier)": "rows_from_cache", "rows from an identical text": "rows_from_same_text",
    "rows answered by Gemini now": "rows_answered", "rows answered by the batch jobs": "rows_answered_by_batch",
    "rows not written to the sink": "rows_not_written", "rows without id (skipped)": "rows_without_id",
    "themes written": "themes_written", "LLM calls": "llm_calls", "LLM retries": "llm_retries",
    "HTTP 429 answers": "http_429", "input tokens": "input_tokens", "output tokens": "output_tokens",
    "tier": "tier", "wall seconds": "wall_seconds",
    "LLM calls at the standard price (flex: deadline near; batch: rows its job left)": "llm_calls_fallback",
    "requests saved (rows that took an identical text's answer)": "requests_saved",
}
_COSTS = {"cost USD (at the tier's price)": "cost_usd",
          "cost USD (the same tokens at the standard price)": "cost_usd_standard"}
_JOBS, _JOB_SECONDS = "batch jobs (requests)", "batch seconds queued / processing (as polled)"
_ENGINE_PREFIX = "Flow run encountered an exception: "
_OWN_PACKAGES = ("themegen", "tasks", "flows", "blocks", "deployments", "local_stack")


@dataclass
class RunOutcome:
    flow_run_id: str | None
    state_name: str
    completed: bool
    message: str | None  # the state message, worded for a person
    summary: RunSummary | None  # None: the run stopped before its report
    error: BaseException | None = None  # in process: the exception the run raised
    traceback: str | None = None  # on a worker: the traceback the run logged


def summary_from_tables(flow_run_id: str | None, summary: list[dict[str, Any]],
                        failures: list[dict[str, Any]]) -> RunSummary:
    """The RunSummary a run returned, from its two table artifacts (pure)."""
    values = {row["metric"]: row["value"] for row in summary}
    data: dict[str, Any] = {field: values[metric] for metric, field in _FIELDS.items() if metric in values}
    data |= {field: None if values[metric] == "unknown" else values[metric]
             for metric, field in _COSTS.items() if metric in values}
    if jobs := re.fullmatch(r"(\d+) \(([\d,]+)\)", str(values.get(_JOBS, ""))):
        data["inference_jobs"], data["batch_requests"] = int(jobs[1]), int(jobs[2].replace(",", ""))
    if _JOB_SECONDS in values:
        data["batch_queued_seconds"], data["batch_processing_seconds"] = map(float, values[_JOB_SECONDS].split(" / "))
    groups = [FailureGroup(reason=row["reason"], rows=row["rows"], rerun_fixes=row["rerun fixes it"],
                           what_to_do=row["what to do"], example_ids=[i for i in row["example ids"].split(", ") if i])
              for row in failures]
    return RunSummary(**data, flow_run_id=flow_run_id, failures=groups)


async def _latest_table(client: PrefectClient, flow_run_id: str, key: str) -> list[dict[str, Any]] | None:
    """The newest version of the run's table artifact `key` (a Retry of the run adds one)."""
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]),
                                       flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])),
        sort=ArtifactSort.CREATED_DESC, limit=1,
    )  # fmt: skip
    if not artifacts:
        return None
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data


async def latest_progress(client: PrefectClient, flow_run_id: str) -> float | None:
    """Percent of the rows done, as the run's progress artifact says now (None before it exists)."""
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[PROGRESS_KEY]),
                                       flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])),
        sort=ArtifactSort.CREATED_DESC, limit=1,
    )  # fmt: skip
    return float(artifacts[0].data) if artifacts and artifacts[0].data is not None else None


async def outcome_of(client: PrefectClient, flow_run: FlowRun) -> RunOutcome:
    """How a run on a worker ended: its final state, its report's numbers or its logged traceback."""
    flow_run_id, state = str(flow_run.id), flow_run.state
    summary_rows = await _latest_table(client, flow_run_id, SUMMARY_KEY)
    summary = None
    if summary_rows is not None:
        failures = await _latest_table(client, flow_run_id, FAILURES_KEY) or []
        summary = summary_from_tables(flow_run_id, summary_rows, failures)
    traceback = None if summary or state.is_completed() else await _logged_traceback(client, flow_run_id)
    return RunOutcome(flow_run_id, state.name, state.is_completed(), run_message(state.message, traceback), summary,
                      traceback=traceback)


async def _logged_traceback(client: PrefectClient, flow_run_id: str) -> str | None:
    """The last traceback the run's process logged at ERROR (the engine logs the exception it failed on)."""
    logs = await client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]), level=LogFilterLevel(ge_=40)),
        sort=LogSort.TIMESTAMP_DESC, limit=20,
    )  # fmt: skip
    return next((log.message for log in logs if "Traceback (most recent call last)" in log.message), None)


def run_message(message: str | None, traceback: str | None = None) -> str | None:
    """The state message worded as the CLI words an error raised in its own process (user_message in
    themegen/domain/errors.py): our own errors by their message alone, any other with its type name."""
    if not message or not message.startswith(_ENGINE_PREFIX):
        return tidy(message) if message else message
    raised = message.removeprefix(_ENGINE_PREFIX)  # "SourceConfigError: THEMEGEN_BQ_TABLE ..."
    type_name, _, text = raised.partition(": ")
    # The traceback names the type with its module: "themegen.source....SourceConfigError: ..."
    modules = re.findall(rf"^([\w.]+)\.{re.escape(type_name)}: ", traceback or "", re.MULTILINE)
    if modules and modules[-1].split(".")[0] in _OWN_PACKAGES:
        return tidy(text)
    return tidy(raised)
