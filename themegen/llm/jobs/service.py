"""The batch job services behind one small interface, one per Gemini backend (chosen by
THEMEGEN_GEMINI_BACKEND): the Gemini API's file jobs (gemini_api.py) and Vertex AI's BigQuery jobs
(vertex.py). Both take the same JSONL of {"key", "request"} lines (requests.py) and give back
output lines of {"key", "response" | "error"} (read by results.py), so validation, caching and
the job records are the same whichever backend runs the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from google import genai
from google.genai import errors, types

from themegen.llm.jobs.requests import JobFile
from themegen.config.settings import Settings

QUEUED = {types.JobState.JOB_STATE_QUEUED, types.JobState.JOB_STATE_PENDING}
# Ended with an output to read (Vertex AI ends a job PARTIALLY_SUCCEEDED when some rows failed: they
# are missing or carry an error, and go online like any row a job left).
ANSWERED = {types.JobState.JOB_STATE_SUCCEEDED, types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED}
ALIVE = QUEUED | {types.JobState.JOB_STATE_RUNNING} | ANSWERED
DONE = {types.JobState.JOB_STATE_SUCCEEDED, types.JobState.JOB_STATE_FAILED, types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_EXPIRED, types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED}


class JobFailed(RuntimeError):
    """A job ended without output, or cannot be run here; the message says what to do."""


class JobPending(RuntimeError):
    """A job not done when the flow run must end; a later run attaches to it."""


class JobService(Protocol):
    async def stage(self, job_file: JobFile, display_name: str) -> str:
        """Hand the job file's requests to the service; where a job reads them (a file's or a table's name)."""

    async def create(self, source: str, display_name: str) -> types.BatchJob:
        """Create a job reading the staged requests (errors.ClientError 429 while the service has no room)."""

    async def get(self, name: str) -> types.BatchJob | None:
        """The job, or None when the service no longer knows it (deleted, or never kept)."""

    async def find(self, display_name: str) -> types.BatchJob | None:
        """The newest job with this display name, if the service still lists one."""

    async def cancel(self, name: str) -> None: ...

    async def output(self, job: types.BatchJob, into: Path) -> None:
        """Write a succeeded job's output lines, {"key", "response" | "error"} as JSON, in any order, to
        a local file (streamed: a job's output is never held whole)."""

    async def stats(self, name: str) -> dict[str, int]:
        """The job's request counts: requestCount, successfulRequestCount, failedRequestCount."""

    async def error(self, name: str) -> str | None:
        """Why a job ended without output, as the service says (None when it says nothing)."""


async def get_job(client: genai.Client, name: str) -> types.BatchJob | None:
    """The job, or None when the service answers 404 (it no longer knows the job)."""
    try:
        return await client.aio.batches.get(name=name)
    except errors.ClientError as exc:
        if exc.code == 404:
            return None
        raise


async def newest_named(client: genai.Client, display_name: str, config: dict) -> types.BatchJob | None:
    """The newest job with this display name among those the service lists with `config`."""
    found = None
    async for job in await client.aio.batches.list(config=config):
        newer = found is None or (job.create_time and found.create_time and job.create_time > found.create_time)
        if job.display_name == display_name and newer:
            found = job
    return found


def job_service(settings: Settings) -> JobService:
    """The batch job service of the settings' Gemini backend."""
    if settings.gemini.backend == "vertex":
        # Imported here: each backend loads only its own libraries (BigQuery staging for Vertex AI).
        from themegen.llm.jobs.vertex import VertexJobs

        return VertexJobs(settings)
    from themegen.llm.jobs.gemini_api import GeminiApiJobs

    return GeminiApiJobs(settings)
