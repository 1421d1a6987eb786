"""Step 1b (tier batch): the run's unsettled rows asked in asynchronous jobs at the batch price
(themegen/llm/jobs/), each job's valid answers written straight to the sink; the batch tasks then run
as always and find those rows done. Rows the jobs left missing or invalid are asked online by those
tasks, with the repair retry, at the standard price, so nothing is lost; upserts and the report are
the online path's.

1. collect: each batch's rows as a batch task would see them (Spanner, row cache, identical
   texts: themegen/pipeline/settle.py `unsettled`), one per distinct text, packed as online, streamed
   into job files a page at a time, a new job whenever one would pass the backend's per-job limits
   (requests, bytes, enqueued tokens: THEMEGEN_JOBS_*; themegen/llm/jobs/collect.py);
2. submit or attach, as the service has room (concurrent jobs, enqueued tokens: slots.py): the job
   these exact requests went to is looked up in the row cache (themegen/llm/jobs/record.py): a job
   alive, or succeeded and not read yet, is attached to (a Retry or a rerun after a crash pays nothing
   more); none, or one gone, failed, cancelled or expired, and a new job is submitted;
3. wait: polled with capped exponential backoff, its progress (batchStats) in a Prefect progress
   artifact, for at most the tier's turnaround and 80% of THEMEGEN_RUN_TIMEOUT_S (then the job is
   left running and a later run collects it); its room goes to the next job;
4. write, once the whole plan is read (a text's later rows are known only then): the output
   streamed to a local file, every line matched by key and validated as online, each row it
   settles (and the rows sharing its text) written to the sink in grouped writes
   (themegen/llm/jobs/to_sink.py).

Cancelling the flow run cancels its jobs (`cancel_inference_jobs`, the flow's on_cancellation hook).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from google.genai import errors, types
from prefect import task
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from blocks.themegen_config import resolve_settings
from themegen.cache import open_cache
from themegen.config.settings import Settings
from themegen.domain.models import BatchPlan, InferenceJobs
from themegen.llm.jobs.collect import job_files
from themegen.llm.jobs.record import JobRecord, add_run_job, load_record, run_jobs, save_record
from themegen.llm.jobs.requests import JobFile
from themegen.llm.jobs.service import ALIVE, ANSWERED, DONE, JobFailed, JobPending, JobService, job_service
from themegen.llm.jobs.settings import job_limits
from themegen.llm.jobs.slots import JobSlots
from themegen.llm.jobs.to_sink import write_output
from themegen.llm.jobs.work import WorkStore, open_work
from themegen.pipeline.edges import Edges, open_edges
from themegen.pricing.estimate import RUN_TIME_SHARE
from themegen.report.best_effort import best_effort
from themegen.tiers import tier_named

POLL_FIRST_S = 2.0
POLL_MAX_S = 60.0
AFTER_FAILURE = ("retry this flow run to submit a new job (rows already written stay done), or run with tier "
                 "flex or standard")


async def _create_when_room(service: JobService, source: str, display_name: str, settings: Settings) -> types.BatchJob:
    """Create the job; while the service answers 429 (no room: other runs' jobs, or its own count of
    enqueued tokens), try again with backoff, up to the share of the run's time a wait may take."""
    give_up, delay = time.monotonic() + RUN_TIME_SHARE * settings.run_timeout_s, POLL_FIRST_S
    while True:
        try:
            return await service.create(source, display_name)
        except errors.ClientError as exc:
            if exc.code != 429 or time.monotonic() + delay > give_up:
                raise
            print(f"batch: the service has no room for another job yet ({exc.message}); trying again in {delay:g} s")
            await asyncio.sleep(delay)
            delay = min(POLL_MAX_S, delay * 2)


@task(name="submit-inference-job", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
async def submit_or_attach(job_file: JobFile, edges: Edges) -> str:
    """The job these requests went to (attached) or a new one; its record is kept before it is created."""
    service, key, requests = job_service(edges.settings), job_file.record_key, job_file.requests
    display_name = f"themegen {key.rsplit('/', 1)[-1][:24]}"
    record = await load_record(edges.cache, key)
    job = None
    if record is not None:
        job = await service.get(record.job) if record.job else await service.find(record.display_name)
    if job is not None and job.state in ALIVE and not (record.read and job.state in ANSWERED):
        print(f"batch: attached to {job.name} ({job.state.name}, submitted {record.submitted_at:%Y-%m-%d %H:%M} UTC)")
        if edges.flow_run_id:  # this run's job now: a cancel of the flow run cancels it
            await add_run_job(edges.cache, edges.flow_run_id, job.name)
        if record.job is None:
            await save_record(edges.cache, key, record.model_copy(update={"job": job.name}))
    else:
        record = JobRecord(job=None, display_name=display_name, requests=requests,
                           submitted_at=datetime.now(UTC))
        await save_record(edges.cache, key, record)
        source = await service.stage(job_file, display_name)
        job = await _create_when_room(service, source, display_name, edges.settings)
        if edges.flow_run_id:  # first: a cancel of the flow run from now on cancels the job
            await add_run_job(edges.cache, edges.flow_run_id, job.name)
        await save_record(edges.cache, key, record.model_copy(update={"job": job.name}))
        print(f"batch: submitted {job.name} ({requests:,} requests, {job_file.rows:,} rows, {job_file.size:,} bytes)")
    job_file.path.unlink(missing_ok=True)  # with the service now: the disk holds only jobs not yet submitted
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


@task(name="write-inference-job", task_run_name="write-{name}", cache_policy=NO_CACHE, retries=2,
      retry_delay_seconds=10)
async def write_job(name: str, job_file: JobFile, work: WorkStore, edges: Edges) -> InferenceJobs:
    """Write every row the job's output settles to the sink; the rest is left to the online path."""
    service = job_service(edges.settings)
    job = await service.get(name)
    if job is None:
        raise JobFailed(f"the service no longer knows batch job {name}: {AFTER_FAILURE}")
    output_file = work.directory / f"output-{job_file.index}.jsonl"
    await service.output(job, output_file)
    with output_file.open(encoding="utf-8") as lines:
        output = await write_output(lines, job_file.index, work, edges)
    output_file.unlink()
    if (record := await load_record(edges.cache, job_file.record_key)) is not None:
        await save_record(edges.cache, job_file.record_key, record.model_copy(update={"read": True}))
    print(f"batch: {name} settled {output.rows_answered:,} rows in {edges.sink.description}; "
          f"{output.rows_left:,} are asked online ({output.missing} requests missing from the output, "
          f"{output.errors} with an error, {output.invalid} rows whose answer did not validate)")
    return InferenceJobs(jobs=1, requests=job_file.requests, rows_answered=output.rows_answered,
                         rows_left_online=output.rows_left,
                         input_tokens=output.input_tokens, output_tokens=output.output_tokens)


async def run_inference_job(plan: BatchPlan, settings: Settings, flow_run_id: str | None) -> InferenceJobs:
    """Answer the plan's unsettled rows with batch jobs, written to the sink; what the jobs did (their
    tokens at the batch price)."""
    total, limits = InferenceJobs(), job_limits(settings.jobs, settings.gemini.backend, settings.model)
    # One job's output written at a time: memory holds one job's writes, and the sink is not asked to
    # take several jobs' commits at once (THEMEGEN_JOBS_WRITES_IN_FLIGHT sets the writes within a job).
    slots, collected, writing = JobSlots(limits), asyncio.Event(), asyncio.Lock()

    async def one(job_file: JobFile, work: WorkStore, edges: Edges) -> None:
        try:
            name = await submit_or_attach(quote(job_file), quote(edges))
            queued, processing = await wait_for_job(name, settings)
        finally:
            await slots.give(job_file)
        # A text's later rows are found as the plan is read: a job's rows are written once all are known.
        await collected.wait()
        async with writing:
            done = await write_job(name, quote(job_file), quote(work), quote(edges))
        total.merge(done.model_copy(update={"queued_seconds": queued, "processing_seconds": processing}))

    async with open_edges(settings, flow_run_id) as edges:
        with open_work(settings.jobs.work_dir) as work:
            running: list[asyncio.Task] = []
            try:
                async for job_file in job_files(plan, edges, work, limits):
                    await slots.take(job_file)
                    running.append(asyncio.create_task(one(job_file, work, edges)))
                collected.set()
            except BaseException:
                for job in running:  # the jobs go on at the service: a rerun attaches to them
                    job.cancel()
                raise
            finally:
                ended = await asyncio.gather(*running, return_exceptions=True)
    if failed := [outcome for outcome in ended if isinstance(outcome, BaseException)]:
        raise failed[0]
    if total.jobs:
        print(f"batch: {total.jobs} jobs ({total.requests:,} requests; at most {slots.most_jobs} at once), "
              f"{total.rows_answered:,} rows written to {settings.sink}")
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
