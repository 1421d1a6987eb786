"""Step 1b (tier batch): the run's unsettled rows asked in one asynchronous job at the batch price
(themegen/llm/jobs/), whose valid answers fill the row cache; the batch tasks then run as always and
take them from the cache. Rows the job left missing or invalid are asked online by those tasks,
with the repair retry, at the standard price, so nothing is lost; upserts and the report are the
online path's.

1. collect: each batch's rows as a batch task would see them (Spanner, row cache, identical
   texts: themegen/pipeline/settle.py `unsettled`), one per distinct text, packed as online;
2. submit or attach: the job these exact requests went to is looked up in the row cache
   (themegen/llm/jobs/record.py): a job alive, or succeeded and not read yet, is attached to (a Retry
   or a rerun after a crash pays nothing more); none, or one gone, failed, cancelled or expired,
   and a new job is submitted;
3. wait: polled with capped exponential backoff, its progress (batchStats) in a Prefect progress
   artifact, for at most the tier's turnaround and 80% of THEMEGEN_RUN_TIMEOUT_S (then the job is
   left running and a later run collects it);
4. read: every output line matched by key and validated as online, each valid answer cached under
   its row's and its text's key.

Cancelling the flow run cancels its jobs (`cancel_inference_jobs`, the flow's on_cancellation hook).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from google.genai import types
from prefect import task
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from blocks.themegen_config import resolve_settings
from themegen.domain.generation import Pending
from themegen.pipeline.settle import cache_answer, unsettled
from themegen.report.best_effort import best_effort
from themegen.cache import open_cache
from themegen.pipeline.edges import Edges, open_edges
from themegen.pricing.estimate import RUN_TIME_SHARE
from themegen.llm.jobs.record import (
    JobRecord,
    add_run_job,
    load_record,
    run_jobs,
    save_record,
)
from themegen.llm.jobs.requests import (
    JobFile,
    JobRequest,
    one_per_text,
    pack,
    write_job_files,
)
from themegen.llm.jobs.results import JobOutput, matched, outcomes
from themegen.llm.jobs.service import (
    ALIVE,
    ANSWERED,
    DONE,
    JobFailed,
    JobPending,
    JobService,
    job_service,
)
from themegen.domain.models import InferenceJobs, BatchPlan
from themegen.config.settings import Settings
from themegen.tiers import tier_named

POLL_FIRST_S = 2.0
POLL_MAX_S = 60.0
AFTER_FAILURE = ("retry this flow run to submit a new job (rows answered so far stay cached), or run with tier "
                 "flex or standard")


@task(name="collect-job-requests", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
async def collect_requests(plan: BatchPlan, edges: Edges) -> list[JobRequest]:
    pending: list[Pending] = []
    for batch in plan.batches:
        rows = await asyncio.to_thread(edges.source.read_batch, batch)
        pending += await unsettled(rows, batch.batch_id, edges)
    leaders = one_per_text(pending)
    requests = pack(leaders, edges.settings.rows_per_request)
    print(f"batch: {len(pending):,} rows to answer, {len(leaders):,} distinct texts, {len(requests):,} requests")
    return requests


@task(name="submit-inference-job", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
async def submit_or_attach(job_file: JobFile, edges: Edges) -> str:
    """The job these requests went to (attached) or a new one; its record is kept before it is created."""
    service, key, requests = job_service(edges.settings), job_file.record_key, len(job_file.requests)
    display_name = f"themegen {key.rsplit('/', 1)[-1][:24]}"
    record = await load_record(edges.cache, key)
    job = None
    if record is not None:
        job = await service.get(record.job) if record.job else await service.find(record.display_name)
    if job is not None and job.state in ALIVE and not (record.read and job.state in ANSWERED):
        print(f"batch: attached to {job.name} ({job.state.name}, submitted {record.submitted_at:%Y-%m-%d %H:%M} UTC)")
        if record.job is None:
            await save_record(edges.cache, key, record.model_copy(update={"job": job.name}))
    else:
        record = JobRecord(job=None, display_name=display_name, requests=requests,
                           submitted_at=datetime.now(UTC))
        await save_record(edges.cache, key, record)
        job = await service.submit(job_file, display_name)
        await save_record(edges.cache, key, record.model_copy(update={"job": job.name}))
        print(f"batch: submitted {job.name} ({requests:,} requests)")
    if edges.flow_run_id:
        await add_run_job(edges.cache, edges.flow_run_id, job.name)
    return job.name


@task(name="wait-for-batch-job", task_run_name="wait-{name}", cache_policy=NO_CACHE)
async def wait_for_job(name: str, settings: Settings) -> tuple[float, float]:
    """Poll until the job is done; (seconds queued, seconds processing) as the polls saw them."""
    service = job_service(settings)
    # No longer than the job's promised turnaround, nor than a flow run may last (a Cloud Run job's
    # timeout): the job keeps running, and a later run attaches to it and collects its answers.
    turnaround = (tier_named(settings.tier).turnaround_s or 0) + 2 * POLL_MAX_S
    give_up = time.monotonic() + min(turnaround, RUN_TIME_SHARE * settings.run_timeout_s)
    progress = await best_effort("batch progress artifact", lambda: acreate_progress_artifact(
        progress=0.0, key="themegen-batch-job", description=f"batch job {name}: requests answered"))
    delay, running_seen = POLL_FIRST_S, None
    while True:
        job = await service.get(name)
        if job is None:
            raise JobFailed(f"the service no longer knows batch job {name}: {AFTER_FAILURE}")
        now = datetime.now(UTC)
        if job.state == types.JobState.JOB_STATE_RUNNING and running_seen is None:
            running_seen = now
        if job.state in DONE:
            break
        if time.monotonic() > give_up:
            raise JobPending(
                f"batch job {name} is still {job.state.name}; it goes on without this flow run (which may last "
                f"THEMEGEN_RUN_TIMEOUT_S={settings.run_timeout_s:g} s): retry this flow run or run it again later, "
                "and it collects the job's answers without paying for them again")
        if progress is not None:
            await _show_progress(service, name, progress)
        await asyncio.sleep(delay)
        delay = min(POLL_MAX_S, delay * 2)
    if job.state not in ANSWERED:
        why = f": {message.rstrip('.')}" if (message := await service.error(name)) else ""
        raise JobFailed(f"batch job {name} ended {job.state.name}{why}; {AFTER_FAILURE}")
    if progress is not None:
        await best_effort("batch progress update", lambda: aupdate_progress_artifact(progress, progress=100.0))
    created, ended = job.create_time or now, job.end_time or now
    started = min(running_seen or ended, ended)  # seen running at a poll: late by up to one poll interval
    return (started - created).total_seconds(), (ended - started).total_seconds()


async def _show_progress(service: JobService, name: str, artifact_id) -> None:
    counts = await service.stats(name)
    if counts.get("requestCount"):
        done = counts.get("successfulRequestCount", 0) + counts.get("failedRequestCount", 0)
        percent = 100.0 * done / counts["requestCount"]
        await best_effort("batch progress update", lambda: aupdate_progress_artifact(artifact_id, progress=percent))


@task(name="read-inference-job", task_run_name="read-{name}", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
async def read_job(name: str, job_file: JobFile, edges: Edges) -> InferenceJobs:
    """Cache every valid answer of the job's output; the rest is left to the online path."""
    service = job_service(edges.settings)
    job = await service.get(name)
    if job is None:
        raise JobFailed(f"the service no longer knows batch job {name}: {AFTER_FAILURE}")
    output = JobOutput()
    for request, line in matched(job_file.requests, await service.output(job)):
        answers = outcomes(request, line, output)
        for row in request.rows:  # cached as they are read: a big output is never held as answers
            if answers[row.id] is not None:
                await cache_answer(row, answers[row.id], edges)
    if (record := await load_record(edges.cache, job_file.record_key)) is not None:
        await save_record(edges.cache, job_file.record_key, record.model_copy(update={"read": True}))
    print(f"batch: {name} answered {output.rows_answered:,} rows; {output.rows_left:,} are asked online "
          f"({output.missing} requests missing from the output, {output.errors} with an error, "
          f"{output.invalid} rows whose answer did not validate)")
    return InferenceJobs(jobs=1, requests=len(job_file.requests), rows_answered=output.rows_answered,
                     rows_left_online=output.rows_left,
                     input_tokens=output.input_tokens, output_tokens=output.output_tokens)


async def run_inference_job(plan: BatchPlan, settings: Settings, flow_run_id: str | None) -> InferenceJobs:
    """Fill the row cache from batch jobs; return what they did (their tokens at the batch price)."""
    total = InferenceJobs()
    async with open_edges(settings, flow_run_id) as edges:
        requests = await collect_requests(quote(plan), quote(edges))

        async def one(job_file: JobFile) -> None:
            name = await submit_or_attach(quote(job_file), quote(edges))
            queued, processing = await wait_for_job(name, settings)
            done = await read_job(name, quote(job_file), quote(edges))
            total.merge(done.model_copy(update={"queued_seconds": queued, "processing_seconds": processing}))

        with tempfile.TemporaryDirectory(prefix="themegen-batch-") as directory:
            files = write_job_files(requests, settings, Path(directory))
            await asyncio.gather(*(one(job_file) for job_file in files))
    return total


async def cancel_inference_jobs(flow, flow_run, state) -> None:
    """on_cancellation hook: cancel the jobs this flow run submitted or attached to, not yet done."""
    settings = await resolve_settings(flow_run.parameters.get("config_block"))
    service, cache = job_service(settings), await open_cache(settings)
    for name in await run_jobs(cache, str(flow_run.id)):
        job = await service.get(name)
        if job is not None and job.state not in DONE:
            await service.cancel(name)
            print(f"batch: cancelled {name} with the flow run")
