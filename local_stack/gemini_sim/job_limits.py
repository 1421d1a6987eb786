"""The batch services' per-job and per-project limits, checked when a job is created, refused with
the status and error shape the real APIs use (SimConfig knobs `batch_max_*`, `vertex_batch_max_*`):

- a job with more requests than a job may hold, or an input file over the size limit: 400
  INVALID_ARGUMENT (the job is never created);
- no room: as many jobs PENDING or RUNNING as the project may have, or (Gemini API) the new job's
  input tokens on top of those of the jobs in flight over the enqueued-token limit: 429
  RESOURCE_EXHAUSTED with a QuotaFailure naming the limit (no RetryInfo: room comes back when a job
  ends, not after a delay).

Every created job is measured into stats.batch: jobs, the largest job's requests and bytes, and the
most jobs in flight at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiohttp import web

from . import replies
from .answers import prompt_texts
from .state import Simulator
from .tokens import approx_tokens

if TYPE_CHECKING:
    from .batches import BatchJob, Item

_DONE = ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")


def in_flight(sim: Simulator, vertex: bool) -> list[BatchJob]:
    """The platform's jobs still PENDING or RUNNING."""
    return [job for job in sim.jobs.values()
            if (job.vertex is not None) == vertex and job.state.removeprefix("BATCH_STATE_") not in _DONE]


def input_tokens(items: Iterable[Item]) -> int:
    return sum(approx_tokens(prompt_texts(item.request)[0]) for item in items)


def _no_room(sim: Simulator, metric: str, quota_id: str, value: int, message: str) -> web.Response:
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": metric, "quotaId": quota_id, "quotaValue": str(value),
                                "description": message}]}]
    sim.stats.batch.refused_429 += 1
    return replies.error(sim, 429, "RESOURCE_EXHAUSTED", message, details)


def _too_large(sim: Simulator, message: str) -> web.Response:
    sim.stats.batch.refused_400 += 1
    return replies.invalid_argument(sim, message)


def check_gemini_api(sim: Simulator, items: list[Item], size: int, tokens: int) -> web.Response | None:
    """The refusal a Gemini API job of `items` (an input of `size` bytes, `tokens` input tokens) gets, if any."""
    config = sim.config
    if size > config.batch_max_file_bytes:
        return _too_large(sim, f"The input file is {size} bytes; the limit is {config.batch_max_file_bytes} bytes.")
    if config.batch_max_requests is not None and len(items) > config.batch_max_requests:
        return _too_large(sim, f"The batch has {len(items)} requests; a batch may have at most "
                               f"{config.batch_max_requests}.")
    flying = in_flight(sim, vertex=False)
    if len(flying) >= config.batch_max_concurrent_jobs:
        return _no_room(sim, "generativelanguage.googleapis.com/batch_concurrent_requests",
                        "BatchConcurrentRequestsPerProject", config.batch_max_concurrent_jobs,
                        f"Too many concurrent batches: {len(flying)} are pending or running "
                        f"(limit {config.batch_max_concurrent_jobs}).")
    limit = config.batch_max_enqueued_tokens
    if limit is not None and tokens + (queued := sum(job.tokens for job in flying)) > limit:
        return _no_room(sim, "generativelanguage.googleapis.com/batch_enqueued_tokens",
                        "BatchEnqueuedTokensPerModelPerProject", limit,
                        f"Enqueued tokens limit reached: {queued} queued plus this batch's {tokens} exceed {limit}.")
    return None


def check_vertex(sim: Simulator, items: list[Item]) -> web.Response | None:
    """The refusal a Vertex AI batch prediction job of `items` gets, if any."""
    config = sim.config
    if len(items) > config.vertex_batch_max_requests:
        return _too_large(sim, f"The input has {len(items)} requests; a batch prediction job may have at most "
                               f"{config.vertex_batch_max_requests}.")
    flying = in_flight(sim, vertex=True)
    if len(flying) >= config.vertex_batch_max_concurrent_jobs:
        return _no_room(sim, "aiplatform.googleapis.com/gemini_concurrent_batch_prediction_jobs",
                        "ConcurrentBatchPredictionJobsPerProjectPerRegion", config.vertex_batch_max_concurrent_jobs,
                        f"Quota exceeded for concurrent batch prediction jobs: {len(flying)} are pending or running "
                        f"(limit {config.vertex_batch_max_concurrent_jobs}).")
    return None


def measure(sim: Simulator, job: BatchJob, size: int) -> None:
    """Count a created job: the largest job so far, and the most jobs in flight at once."""
    stats = sim.stats.batch
    stats.largest_job_requests = max(stats.largest_job_requests, len(job.items))
    stats.largest_job_bytes = max(stats.largest_job_bytes, size)
    stats.most_jobs_at_once = max(stats.most_jobs_at_once, len(in_flight(sim, job.vertex is not None)))
