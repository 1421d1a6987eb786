"""When a batch run attaches to the job its requests went to, and when it submits a new one
(the simulator's batch and Files APIs; the row cache on SQLite; end to end in tests/flows)."""

from __future__ import annotations

import asyncio

import httpx
from google.genai import types

from local_stack.gemini_sim import SimConfig, running_simulator
from tasks.run_inference_job import submit_or_attach
from tests.themegen.llm.gemini.test_generator import settings_for
from themegen.tiers.policy import request_policy
from themegen.domain.generation import Generation, Pending
from themegen.cache.sqlite.client import LocalCache
from themegen.pipeline.edges import Edges
from themegen.llm.jobs.record import load_record, save_record
from themegen.llm.jobs.requests import JobFile, JobFiles, JobRow, job_line, pack
from themegen.llm.jobs.settings import JobLimits
from themegen.llm.jobs.service import job_service
from themegen.domain.prompt import input_hash

ROWS = [Pending(f"r{i}", f"The parcel {i} arrived late", input_hash(f"The parcel {i} arrived late"), f"k{i}")
        for i in range(6)]


def edges_for(url: str, tmp_path) -> Edges:
    settings = settings_for(url, tier="batch", rows_per_request=2)
    return Edges(settings, source=None, sink=None, cache=LocalCache(tmp_path / "cache"), generation=Generation.of(settings),
                 policy=request_policy(settings),
                 flow_run_id="run-1")


def job_file(edges: Edges, tmp_path) -> JobFile:
    """The same requests' job file, written anew (a submitted job's file is deleted)."""
    files = JobFiles(tmp_path, edges.settings.model, JobLimits(None, 10**9, None, 1))
    for rows in pack(ROWS, 2):
        files.add(job_line(rows, tuple(JobRow(r.id, r.digest, 0) for r in rows), edges.settings))
    return files.close()


async def jobs_created(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/_sim/stats")).json()["batch"]["jobs_created"]


async def test_the_same_requests_attach_to_their_running_job(tmp_path):
    async with running_simulator(SimConfig(batch_turnaround_s=30)) as url:
        edges = edges_for(url, tmp_path)
        first = await submit_or_attach.fn(job_file(edges, tmp_path), edges)
        again = await submit_or_attach.fn(job_file(edges, tmp_path), edges)  # a Retry, or a rerun
        assert again == first and await jobs_created(url) == 1


async def test_a_job_the_service_forgot_or_that_was_cancelled_is_submitted_again(tmp_path):
    async with running_simulator(SimConfig(batch_turnaround_s=30)) as url:
        edges = edges_for(url, tmp_path)
        service = job_service(edges.settings)
        first = await submit_or_attach.fn(job_file(edges, tmp_path), edges)
        await service.client.aio.batches.delete(name=first)  # as a restarted simulator: a get answers 404
        second = await submit_or_attach.fn(job_file(edges, tmp_path), edges)
        await service.cancel(second)
        third = await submit_or_attach.fn(job_file(edges, tmp_path), edges)
        assert len({first, second, third}) == 3 and await jobs_created(url) == 3


async def test_a_job_whose_name_was_never_kept_is_found_by_its_display_name(tmp_path):
    async with running_simulator(SimConfig(batch_turnaround_s=30)) as url:
        edges = edges_for(url, tmp_path)
        written = job_file(edges, tmp_path)
        first = await submit_or_attach.fn(written, edges)
        record = await load_record(edges.cache, written.record_key)
        await save_record(edges.cache, written.record_key, record.model_copy(update={"job": None}))  # killed then
        assert await submit_or_attach.fn(written, edges) == first and await jobs_created(url) == 1
        assert (await load_record(edges.cache, written.record_key)).job == first


async def test_a_job_already_read_is_not_attached_to_again(tmp_path):
    async with running_simulator(SimConfig(batch_turnaround_s=0.2)) as url:
        edges = edges_for(url, tmp_path)
        written = job_file(edges, tmp_path)
        first = await submit_or_attach.fn(written, edges)
        service = job_service(edges.settings)
        while (await service.get(first)).state != types.JobState.JOB_STATE_SUCCEEDED:
            await asyncio.sleep(0.1)
        record = await load_record(edges.cache, written.record_key)
        await save_record(edges.cache, written.record_key, record.model_copy(update={"read": True}))
        rerun = job_file(edges, tmp_path)  # a rerun writes its job file again (a submitted one is deleted)
        assert rerun.record_key == written.record_key
        assert await submit_or_attach.fn(rerun, edges) != first and await jobs_created(url) == 2
