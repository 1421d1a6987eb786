"""Which batch job a set of requests went to, kept in the row cache.

Why the row cache: it is durable and shared by every process of a run (SQLite on one machine, a
storage block such as a GCS bucket across workers), it outlives a killed flow process and a Retry,
and it is already keyed by content. The record's key is a hash of the job's requests
(requests.job_record_key), so a Retry, or any later run that would send exactly the same requests,
finds the job already paid for and attaches to it instead of submitting a second one; a run whose
requests differ (other rows, prompt, model) submits its own. A second record per flow run lists the
run's jobs, so cancelling the flow run can cancel them. Records ride in CachedAnswer.raw_text, so
both cache backends keep them without a schema of their own.

A record is written before the job is created (without its name) and again once the service named
it; a process killed in between leaves a record without a name, and the rerun finds the job by its
display name (derived from the same key) among the service's jobs before submitting anything.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ValidationError

from themegen.cache import CachedAnswer, RowCache


class JobRecord(BaseModel):
    job: str | None  # "batches/<id>"; None while it is being submitted
    display_name: str  # derived from the key: finds the job should the process die before its name is kept
    requests: int
    submitted_at: datetime
    read: bool = False  # its output was read back into the row cache


class RunJobs(BaseModel):
    jobs: list[str] = []


def run_jobs_key(flow_run_id: str) -> str:
    return f"batch-jobs/runs/{flow_run_id}.json"


async def _load(cache: RowCache, key: str, model: type[BaseModel]) -> BaseModel | None:
    hit = (await cache.get_many([key])).get(key)
    try:
        return model.model_validate_json(hit.raw_text) if hit is not None else None
    except ValidationError:
        return None  # a record of an older shape: treated as none (a new job is submitted)


async def load_record(cache: RowCache, key: str) -> JobRecord | None:
    return await _load(cache, key, JobRecord)


async def save_record(cache: RowCache, key: str, record: JobRecord) -> None:
    await cache.put(key, CachedAnswer(raw_text=record.model_dump_json()))


async def run_jobs(cache: RowCache, flow_run_id: str) -> list[str]:
    found = await _load(cache, run_jobs_key(flow_run_id), RunJobs)
    return found.jobs if found else []


async def add_run_job(cache: RowCache, flow_run_id: str, job: str) -> None:
    jobs = await run_jobs(cache, flow_run_id)
    if job not in jobs:
        await cache.put(run_jobs_key(flow_run_id), CachedAnswer(raw_text=RunJobs(jobs=[*jobs, job]).model_dump_json()))
