"""generate_themes_sharded: one generate-themes deployment run per shard of the source.

Each child run takes the rows whose id hashes to its shard (`shard`, `shard_count` parameters), so the
children are disjoint and together cover the source; they may run on different workers or machines.
Two uses:
- shards given: that many children side by side, each pacing at its share of the quota. Run them with
  `THEMEGEN_SHARED_RATE_LIMIT=gemini-rpm` in the workers' environment, so together they stay within it.
- shards left empty: a job too long for one run (THEMEGEN_RUN_TIMEOUT_S, the Cloud Run job's timeout)
  is split into as many children as it needs, run one after another at the full quota, each fitting
  the timeout (`themegen estimate` shows the number). The parent waits for them all, so it belongs on
  a long-lived worker (the process pool), not on Cloud Run itself.

The children's numbers come from their `themegen-summary` table artifacts (read through the Prefect
API by flow run id), not from their return values, which are not persisted.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime, timezone

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import ArtifactSort
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.states import Failed

from blocks.themegen_config import resolve_settings
from tasks.build_taxonomy import build_taxonomy
from tasks.schedule_continuation import DAILY_STOP, schedule_continuation
from themegen.report.taxonomy import taxonomy_markdown
from themegen.pricing.estimate import child_runs
from themegen.config.settings import Settings
from themegen.source import open_source
from themegen.tiers import TierChoice
from themegen.tiers.choose import deadline_at

SUMMARY_KEY = "themegen-summary"
REPORT_KEY = "themegen-sharded-report"


async def child_summaries(flow_run_ids: list[str]) -> dict[str, dict[str, object]]:
    """flow_run_id -> {metric: value} from each run's latest `themegen-summary` artifact."""
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[SUMMARY_KEY]),
                                           flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)),
            sort=ArtifactSort.CREATED_DESC,
        )
    summaries: dict[str, dict[str, object]] = {}
    for artifact in artifacts:  # newest first: a retried child's last attempt wins
        table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
        summaries.setdefault(str(artifact.flow_run_id), {row["metric"]: row["value"] for row in table})
    return summaries


def combine(summaries: dict[str, dict[str, object]]) -> dict[str, float]:
    """Sum each numeric metric over the children (pure); wall seconds is the slowest child's."""
    totals: dict[str, float] = {}
    for summary in summaries.values():
        for metric, value in summary.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                merge = max if metric == "wall seconds" else (lambda a, b: a + b)
                totals[metric] = merge(totals.get(metric, 0), value)
    return totals


def report_markdown(children: list[FlowRun], summaries: dict[str, dict[str, object]], totals: dict[str, float],
                    wall_seconds: float) -> str:
    lines = ["# themegen sharded run", "", f"{len(children)} shards, {wall_seconds:.1f} s wall time", "",
             "| shard | flow run | state | rows total | rows succeeded | rows failed |", "|---|---|---|---|---|---|"]
    for child in children:
        s = summaries.get(str(child.id), {})
        lines.append(f"| {child.parameters.get('shard')} | {child.name} (`{child.id}`) | {child.state.name} | "
                     f"{s.get('rows total', '?')} | {s.get('rows succeeded', '?')} | {s.get('rows failed', '?')} |")
    lines += ["", "| metric | total |", "|---|---|", *(f"| {k} | {v:g} |" for k, v in totals.items())]
    return "\n".join(lines)


def runs_needed(settings: Settings, rows_limit: int | None) -> int:
    """Child runs a job needs so each fits settings.run_timeout_s at the quota (blocking: one count)."""
    rows = open_source(settings).count_rows()
    rows = rows if rows_limit is None else min(rows, rows_limit)
    minutes = math.ceil(rows / settings.rows_per_request) / settings.rpm
    return child_runs(minutes, settings.run_timeout_s)


def child_env(deadline: datetime | None) -> dict[str, str]:
    """The children's environment on top of their deployment's: what this run itself was given as job
    variables (a custom run's settings reach every shard), and the shared deadline."""
    context = FlowRunContext.get()
    given = (context.flow_run.job_variables or {}) if context and context.flow_run else {}
    env = {key: str(value) for key, value in (given.get("env") or {}).items()}
    return env | ({"THEMEGEN_DEADLINE_AT": deadline.isoformat()} if deadline else {})


@flow(name="generate-themes-sharded", log_prints=True)
async def generate_themes_sharded(
    shards: int | None = None,
    at_once: int | None = None,
    deployment: str = "generate-themes/generate-themes-local",
    rows_limit: int | None = None,
    batch_size: int | None = None,
    config_block: str | None = None,
    tier: TierChoice | None = None,
    deadline: str | None = None,
) -> dict[str, float]:
    """Start `shards` runs of `deployment` (shard k of shards each), wait for all, report the totals.

    shards: None = as many as THEMEGEN_RUN_TIMEOUT_S needs at the quota, run one after another.
    at_once: children running at the same time (each paces at 1/at_once of the quota); default every
        shard when shards is given, one when it is computed.
    rows_limit applies within each shard: every child takes the first rows_limit rows by id of its
    own shard (up to shards x rows_limit rows in all).
    tier, deadline: passed to every child; the deadline counts from this run's start, for children
    started later too (THEMEGEN_DEADLINE_AT in their environment).
    """
    settings = await resolve_settings(config_block, batch_size=batch_size, tier=tier, deadline=deadline)
    at = deadline_at(settings, datetime.now(timezone.utc))
    job_variables = {"env": child_env(at)}
    if shards is None:
        shards = await asyncio.to_thread(runs_needed, settings, rows_limit)
        at_once = at_once or 1
        print(f"{shards} child runs, {at_once} at a time, each within {settings.run_timeout_s:g} s")
    if shards < 1:
        raise ValueError(f"shards={shards}: need at least 1")
    at_once = min(at_once or shards, shards)
    started = time.monotonic()
    gate = asyncio.Semaphore(at_once)

    async def child(k: int) -> FlowRun:
        async with gate:
            return await run_deployment(deployment, timeout=None, parameters={
                "rows_limit": rows_limit, "batch_size": batch_size, "shard": k, "shard_count": shards,
                "concurrent_shards": at_once, "config_block": config_block, "tier": tier, "deadline": deadline,
            }, job_variables=job_variables)

    children: list[FlowRun] = await asyncio.gather(*(child(k) for k in range(shards)))
    summaries = await child_summaries([str(child.id) for child in children])
    totals = combine(summaries)
    taxonomy = await build_taxonomy(settings)  # once, on what every shard wrote (a shard does not build it)
    wall_seconds = time.monotonic() - started
    await acreate_markdown_artifact(key=REPORT_KEY, markdown=report_markdown(children, summaries, totals, wall_seconds)
                                    + "\n\n" + taxonomy_markdown(taxonomy, totals.get("cost USD (at the tier's price)"),
                                                                        settings.stack or "GCP"),
                                    description="themegen sharded run: every shard and the totals")
    print(json.dumps({**totals, "parent wall seconds": round(wall_seconds, 1)}))
    failed = [str(child.parameters.get("shard")) for child in children if not child.state.is_completed()]
    # A child stopped for the day schedules nothing (this run is what to run again): this run continues at the reset.
    day_stop = next((c.state.message for c in children if DAILY_STOP in (c.state.message or "")), None)
    continuation = await schedule_continuation(day_stop, settings)
    if failed:
        return Failed(message=f"shards {', '.join(failed)} did not complete; retry their flow runs (see the report)."
                              + (continuation.message if continuation else ""), data=totals)
    return totals
