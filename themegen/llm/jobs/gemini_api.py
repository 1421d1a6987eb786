"""The Gemini API's batch jobs through google-genai (the file form: a JSONL upload, a result file)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from google import genai
from google.genai import types

from themegen.llm.gemini.client import make_client
from themegen.llm.jobs.requests import JobFile
from themegen.llm.jobs.service import JobFailed, get_job, newest_named
from themegen.config.settings import Settings

log = logging.getLogger("themegen")
GEMINI_API = "https://generativelanguage.googleapis.com"


class GeminiApiJobs:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: genai.Client = make_client(settings)

    async def stage(self, job_file: JobFile, display_name: str) -> str:
        """Upload the requests (a JSONL file, sent in chunks from disk)."""
        uploaded = await self.client.aio.files.upload(
            file=job_file.path, config={"mime_type": "application/jsonl", "display_name": display_name})
        return uploaded.name

    async def create(self, source: str, display_name: str) -> types.BatchJob:
        return await self.client.aio.batches.create(model=self.settings.model, src=source,
                                                    config={"display_name": display_name})

    async def get(self, name: str) -> types.BatchJob | None:
        return await get_job(self.client, name)

    async def cancel(self, name: str) -> None:
        await self.client.aio.batches.cancel(name=name)

    async def output(self, job: types.BatchJob, into: Path) -> None:
        if job.dest is None or not job.dest.file_name:
            raise JobFailed(f"batch job {job.name} succeeded without a result file; retry the flow run")
        await self.client.aio.files.download(file=job.dest.file_name, destination=into)

    async def find(self, display_name: str) -> types.BatchJob | None:
        return await newest_named(self.client, display_name, {"page_size": 100})

    async def _operation(self, name: str) -> dict:
        """The job as the REST API returns it (google-genai leaves out its batchStats and error); {}
        when it cannot be read: what it adds is for people (progress, a reason), never for the run."""
        base = (self.settings.gemini.base_url or GEMINI_API).rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                response = await http.get(f"{base}/v1beta/{name}", headers={
                    "x-goog-api-key": self.settings.gemini.api_key.get_secret_value()})
                response.raise_for_status()
                return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("batch job %s: its REST operation could not be read (%s: %s)", name, type(exc).__name__, exc)
            return {}

    async def stats(self, name: str) -> dict[str, int]:
        """The job's request counts (metadata.batchStats: requestCount, successfulRequestCount,
        failedRequestCount, pendingRequestCount)."""
        counts = (await self._operation(name)).get("metadata", {}).get("batchStats", {})
        return {key: int(value) for key, value in counts.items()}

    async def error(self, name: str) -> str | None:
        return (await self._operation(name)).get("error", {}).get("message")
