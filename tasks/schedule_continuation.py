"""Step 3b: a run stopped by the day's quota schedules its own continuation at the quota's reset.

A per-day refusal from Gemini (or the run's own day budget, THEMEGEN_RPD / THEMEGEN_TPD) stops all
sending; nothing more can go out until the reset (midnight Pacific time for the Gemini API,
THEMEGEN_QUOTA_RESETS_AT). Instead of waiting for a person, the run creates a flow run of its own
deployment, with its parameters, job variables and work queue, in a Scheduled state at the reset:
the worker starts it then, it is listed in the UI meanwhile, and like any rerun it sends only the
rows that are still unfinished. One per stopped attempt of a run (an idempotency key: a retried task
does not schedule twice). A run that is not a deployment run (`themegen run --in-process`, a test) or is a
child of generate-themes-sharded (its parent is what to run again) schedules nothing and says so.
"""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.states import Scheduled
from pydantic import BaseModel

from themegen.config.settings import Settings
from themegen.limiter.day import next_reset

# What domain/stop.py's trip_daily_quota says: a refusal for the day, or the run's budget for it.
DAILY_STOP = "per-day quota exhausted"


class Continuation(BaseModel):
    at: datetime
    flow_run_id: str | None = None  # None: nothing was scheduled (see `note`)
    note: str

    @property
    def message(self) -> str:
        return f" Continues at {self.at:%Y-%m-%d %H:%M} UTC: {self.note}."


@task(name="schedule-continuation", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
async def schedule_continuation(stop_reason: str | None, settings: Settings) -> Continuation | None:
    """The continuation of a run stopped for the day, or None when the run did not stop for the day."""
    if not stop_reason or DAILY_STOP not in stop_reason:
        return None
    at = next_reset(datetime.now(timezone.utc), settings.quota_resets_at)
    deployment_id, flow_run_id = runtime.deployment.id, runtime.flow_run.id
    if not deployment_id or not flow_run_id:
        found = Continuation(at=at, note="not a deployment run, so nothing is scheduled: start the same run "
                                         "again then (only unfinished rows are sent)")
    else:
        found = await _schedule(str(deployment_id), str(flow_run_id), at)
    print(found.message.strip())
    return found


async def _schedule(deployment_id: str, flow_run_id: str, at: datetime) -> Continuation:
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
        if run.parent_task_run_id is not None:
            return Continuation(at=at, note="a child run, so nothing is scheduled: its parent run is what to run again")
        continued = await client.create_flow_run_from_deployment(
            deployment_id, parameters=run.parameters, job_variables=run.job_variables,
            work_queue_name=run.work_queue_name, state=Scheduled(scheduled_time=at),
            name=f"{run.name}-continued", tags=[*run.tags, "continuation"],
            # per attempt of this run: a retry of it in the UI that stops for the day again gets its own
            idempotency_key=f"themegen-continuation-{flow_run_id}-{run.run_count}",
        )
    return Continuation(at=at, flow_run_id=str(continued.id),
                        note=f"flow run {continued.name} ({continued.id}) of this deployment, same parameters, "
                             "is scheduled for the quota's reset")
