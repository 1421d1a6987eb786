"""Room at the service: no more jobs at once than allowed, nor more enqueued tokens; the next job
goes in as soon as one ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

from themegen.llm.jobs.requests import JobFile
from themegen.llm.jobs.settings import JobLimits
from themegen.llm.jobs.slots import JobSlots


def job(index: int, tokens: int) -> JobFile:
    return JobFile(index, Path(f"requests-{index}.jsonl"), f"key-{index}", 1, 1, 100, tokens)


async def run(slots: JobSlots, jobs: list[JobFile]) -> list[int]:
    """Each job holds its room for a moment; the most jobs seen holding room at once, per start."""
    at_once = []

    async def hold(job_file: JobFile) -> None:
        await asyncio.sleep(0.01 * (job_file.index % 3 + 1))
        await slots.give(job_file)

    running = []
    for job_file in jobs:
        await slots.take(job_file)
        at_once.append(slots.jobs)
        running.append(asyncio.create_task(hold(job_file)))
    await asyncio.gather(*running)
    return at_once


async def test_no_more_jobs_at_once_than_allowed():
    slots = JobSlots(JobLimits(max_requests=None, max_bytes=10**9, max_tokens=None, max_concurrent=3))
    at_once = await run(slots, [job(i, 10) for i in range(12)])
    assert max(at_once) == slots.most_jobs == 3 and slots.jobs == 0


async def test_no_more_enqueued_tokens_than_allowed():
    slots = JobSlots(JobLimits(max_requests=None, max_bytes=10**9, max_tokens=100, max_concurrent=50))
    seen = []
    original = slots.take

    async def take(job_file: JobFile) -> None:
        await original(job_file)
        seen.append(slots.tokens)

    slots.take = take
    await run(slots, [job(i, 40) for i in range(9)])
    assert max(seen) == 80 and slots.most_jobs == 2 and slots.tokens == 0
