"""Room at the batch service for one more job: jobs queued or running at once, and their estimated
input tokens together (the Gemini API's enqueued-token limit), within the run's JobLimits. A job
takes its room before it is submitted and gives it back when it ends; the next job waits for it."""

from __future__ import annotations

import asyncio

from themegen.llm.jobs.requests import JobFile
from themegen.llm.jobs.settings import JobLimits


class JobSlots:
    def __init__(self, limits: JobLimits) -> None:
        self.limits = limits
        self.jobs = 0
        self.tokens = 0
        self.most_jobs = 0  # the most jobs that held room at once (the run's report and tests)
        self._changed = asyncio.Condition()

    def _fits(self, job_file: JobFile) -> bool:
        limits = self.limits
        return self.jobs < limits.max_concurrent and (
            limits.max_tokens is None or self.tokens + job_file.tokens <= limits.max_tokens)

    async def take(self, job_file: JobFile) -> None:
        """Wait until the job fits beside the ones holding room, then hold its own."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(job_file))
            self.jobs += 1
            self.tokens += job_file.tokens
            self.most_jobs = max(self.most_jobs, self.jobs)

    async def give(self, job_file: JobFile) -> None:
        async with self._changed:
            self.jobs -= 1
            self.tokens -= job_file.tokens
            self._changed.notify_all()
