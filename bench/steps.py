"""Where a flow run's wall time went, step by step, as the Prefect server recorded its task runs.

check_config and create_batches (the BigQuery snapshot: the emulator computes FARM_FINGERPRINT in
Python, ~1 s per query on an idle machine and several under load), then the batches (generate:
from the first batch task run's start to the last one's end), the final upsert and the report.
The server records task runs from events after they happen, so this polls until their count stops
growing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

# task run name prefix -> step (the batch task runs are "batch-<id>")
STEPS = {"check-config": "check_config", "estimate-run": "estimate", "create-batches": "create_batches",
         "run-batch-job": "batch_job", "batch-": "generate", "upsert-themes": "upsert", "publish-report": "report"}


def steps_of(flow_start: datetime, flow_end: datetime, task_runs: list[tuple[str, datetime, datetime]]) -> dict:
    """Seconds per step (pure): a step's task runs from the first start to the last end; `other` is
    the flow's time in none of them (its own code between the steps, and gaps)."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for name, start, end in task_runs:
        step = next((step for prefix, step in STEPS.items() if name.startswith(prefix)), None)
        if step is None or start is None or end is None:
            continue
        first, last = spans.get(step, (start, end))
        spans[step] = (min(first, start), max(last, end))
    out = {step: round((end - start).total_seconds(), 2) for step, (start, end) in spans.items()}
    total = (flow_end - flow_start).total_seconds()
    out["flow"] = round(total, 2)
    out["other"] = round(total - sum(v for k, v in out.items() if k != "flow"), 2)
    return out


async def _read(flow_run_id: str) -> tuple[datetime, datetime, list[tuple[str, datetime, datetime]]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        runs, offset = [], 0
        while True:
            page = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                                               limit=200, offset=offset)
            runs += [(r.name, r.start_time, r.end_time) for r in page]
            if len(page) < 200:
                break
            offset += 200
    return flow_run.start_time, flow_run.end_time, runs


def flow_steps(flow_run_id: str | None, settle_s: float = 30.0) -> dict | None:
    """The run's steps, once the server has recorded its task runs (at most `settle_s` of polling)."""
    if not flow_run_id:
        return None
    deadline, seen = time.monotonic() + settle_s, -1
    while True:
        start, end, runs = asyncio.run(_read(flow_run_id))
        finished = [r for r in runs if r[2] is not None]
        if (len(finished) == seen and len(finished) == len(runs) and end is not None) or time.monotonic() > deadline:
            return steps_of(start, end, runs) if start and end else None
        seen = len(finished)
        time.sleep(1.0)
