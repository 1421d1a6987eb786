"""The batch tier's per-job limits (THEMEGEN_JOBS_*), nested in the root Settings as `jobs`.

Each limit left unset takes the documented default of the Gemini backend in use (README, "Batch jobs
at scale", cites the pages): a run's requests are split into jobs that each stay within them, and
jobs are submitted while the running ones leave room (concurrent jobs, enqueued tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

# Gemini API Batch Mode: an input file of up to 2 GB (a margin kept for the service's own
# accounting), 100 concurrent batch jobs per project, and enqueued tokens per model at Tier 1 (the
# tier a new billing account starts at; higher tiers allow far more: set THEMEGEN_JOBS_MAX_ENQUEUED_TOKENS).
GEMINI_API_MAX_BYTES = 1_900_000_000
GEMINI_API_MAX_CONCURRENT = 100
GEMINI_API_TIER1_ENQUEUED_TOKENS = {
    "gemini-2.5-pro": 5_000_000,
    "gemini-2.5-flash": 3_000_000,
    "gemini-2.5-flash-lite": 10_000_000,
    "gemini-2.0-flash": 10_000_000,
}
# Vertex AI batch prediction for Gemini: requests per job and concurrent jobs per project and region.
# Its input is a BigQuery table loaded from our file: the file is kept under the same byte cap.
VERTEX_MAX_REQUESTS = 200_000
VERTEX_MAX_CONCURRENT = 8


class JobsSettings(BaseModel):
    max_requests: int | None = Field(
        None, ge=1, description="requests per job; None = the backend's (Vertex AI 200,000; the Gemini API has no "
        "count limit, only the file size)")
    max_bytes: int | None = Field(
        None, ge=1_000, description="bytes of a job's JSONL input; None = 1.9 GB (the Gemini API's 2 GB file limit)")
    max_enqueued_tokens: int | None = Field(
        None, ge=1, description="estimated input tokens of the jobs queued or running at once; None = the Gemini "
        "API's Tier 1 limit for the model (gemini-2.5-flash 3,000,000); Vertex AI has none")
    max_concurrent: int | None = Field(
        None, ge=1, description="jobs queued or running at once; None = the backend's (Gemini API 100, Vertex AI 8)")
    token_headroom: float = Field(
        0.1, ge=0, lt=1, description="share of max_enqueued_tokens left unused: input tokens are estimated "
        "(4 characters a token) before the service counts them")
    writes_in_flight: int = Field(
        1, ge=1, le=64, description="writes of a job's rows to the sink under way at once (5,000 rows each), while "
        "the next is prepared: the Spanner emulator runs one commit at a time (two at once were slower there); "
        "real Spanner and PostgreSQL take several")
    work_dir: Path | None = Field(
        None, description="where a run keeps its job files and the run's request index while jobs run (a few "
        "hundred bytes a row; on Cloud Run /tmp is memory: point this at a mounted volume for 10M+ rows); None = "
        "the system's temporary directory")


@dataclass(frozen=True)
class JobLimits:
    """The limits a run's jobs keep, resolved for one backend and model (None: no such limit)."""

    max_requests: int | None
    max_bytes: int
    max_tokens: int | None  # per job and for all jobs in flight together: the enqueued-token budget
    max_concurrent: int


def job_limits(jobs: JobsSettings, backend: str, model: str) -> JobLimits:
    """The settings' limits, each unset one at the backend's documented default (pure)."""
    vertex = backend == "vertex"
    default_tokens = None if vertex else GEMINI_API_TIER1_ENQUEUED_TOKENS.get(
        model, min(GEMINI_API_TIER1_ENQUEUED_TOKENS.values()))
    tokens = jobs.max_enqueued_tokens or default_tokens
    return JobLimits(
        max_requests=jobs.max_requests or (VERTEX_MAX_REQUESTS if vertex else None),
        max_bytes=jobs.max_bytes or GEMINI_API_MAX_BYTES,
        max_tokens=None if tokens is None else max(1, int(tokens * (1 - jobs.token_headroom))),
        max_concurrent=jobs.max_concurrent or (VERTEX_MAX_CONCURRENT if vertex else GEMINI_API_MAX_CONCURRENT),
    )
