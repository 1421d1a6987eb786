"""The Gemini API batch job API as google-genai's `batches.create/get/cancel/list/delete` call it.

A job runs as a background task: PENDING for `batch_pending_share` of `batch_turnaround_s`, then
RUNNING (requests answered in slices, so `batchStats` counts up), then SUCCEEDED with its output:
inline responses echoing each request's `metadata`, or a generated JSONL file (`responsesFile`) of
`{"key", "response" | "error"}` lines. Outputs are shuffled (`batch_shuffle`): clients must map them
by key. Every request is answered by generate.py exactly as online (same themes, same bad-output
knobs); quotas and latency knobs do not apply. `batch_outcome` makes jobs end FAILED (after running,
no output), EXPIRED (never leaving PENDING) or, Vertex AI jobs only, PARTIALLY_SUCCEEDED (with output).
"""

import asyncio
import json
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import job_limits, replies
from .files import store_generated, timestamp
from .generate import generate, hits_error_ids, read_prompt
from .job_routes import Platform, add_job_routes
from .state import SIMULATOR, Simulator

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
_SLICES = 10  # progress steps while RUNNING
_YIELD_EVERY = 50  # requests answered between two turns of the event loop
DONE = (
    "BATCH_STATE_SUCCEEDED",
    "BATCH_STATE_PARTIALLY_SUCCEEDED",  # Vertex AI's jobs only
    "BATCH_STATE_FAILED",
    "BATCH_STATE_CANCELLED",
    "BATCH_STATE_EXPIRED",
)
# google.rpc.Code numbers, as google.rpc.Status carries them.
_CANCELLED, _DEADLINE_EXCEEDED, _INTERNAL = 1, 4, 13
_SNAKE = re.compile(r"_([a-z])")


@dataclass
class Item:
    """One request of a job, with what its output must echo to be matched to it."""

    request: dict[str, Any]
    key: str | None = None  # file form: the line's "key"
    metadata: dict[str, Any] | None = None  # inline form: the request's "metadata"

    def output(self, result: dict[str, Any]) -> dict[str, Any]:
        if self.key is not None:
            return {"key": self.key, **result}
        return result if self.metadata is None else {"metadata": self.metadata, **result}


Deliver = Callable[[Simulator, "BatchJob", list[dict[str, Any]]], Awaitable[None]]


@dataclass
class BatchJob:
    job_id: str
    model: str
    display_name: str
    items: list[Item]
    from_file: bool
    state: str = "BATCH_STATE_PENDING"
    succeeded: int = 0
    failed: int = 0
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    task: asyncio.Task | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Where a succeeded job's output goes (None: a Gemini API file or inline responses). Vertex AI
    # jobs (vertex_batches.py) write a BigQuery table and keep their resource's own fields in `vertex`.
    deliver: Deliver | None = None
    vertex: dict[str, Any] | None = None
    tokens: int = 0  # its requests' input tokens: what it holds of the enqueued-token limit (job_limits.py)

    @property
    def name(self) -> str:
        return f"batches/{self.job_id}"

    def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def cancel(self) -> bool:
        """Stop the job as CANCELLED; False for a finished job, which it leaves as it is (like the real APIs)."""
        if self.state in DONE:
            return False
        self.stop()
        self.move("BATCH_STATE_CANCELLED", {"code": _CANCELLED, "message": "The batch was cancelled."})
        return True

    def move(self, state: str, error: dict[str, Any] | None = None) -> None:
        self.state, self.error, self.updated = state, error, datetime.now(UTC)

    def operation(self) -> dict[str, Any]:
        """The job as the API returns it: a long-running Operation whose metadata is the batch."""
        done = self.state in DONE
        metadata: dict[str, Any] = {
            "@type": _TYPE + "GenerateContentBatch",
            "name": self.name,
            "model": f"models/{self.model}",
            "displayName": self.display_name,
            "state": self.state,
            "createTime": timestamp(self.created),
            "updateTime": timestamp(self.updated),
            "batchStats": {  # int64 fields: strings in JSON
                "requestCount": str(len(self.items)),
                "successfulRequestCount": str(self.succeeded),
                "failedRequestCount": str(self.failed),
                "pendingRequestCount": str(len(self.items) - self.succeeded - self.failed),
            },
        }
        operation: dict[str, Any] = {"name": self.name, "metadata": metadata, "done": done}
        if done:
            metadata["endTime"] = timestamp(self.updated)
        if self.output is not None:
            metadata["output"] = self.output
            operation["response"] = {"@type": _TYPE + "GenerateContentBatchOutput", **self.output}
        if self.error is not None:
            operation["error"] = self.error
        return operation


def camel(request: dict[str, Any]) -> dict[str, Any]:
    """Proto JSON accepts snake_case field names too (the docs' JSONL uses "generation_config")."""
    request = {_SNAKE.sub(lambda m: m.group(1).upper(), k): v for k, v in request.items()}
    config = request.get("generationConfig")
    if isinstance(config, dict):
        request["generationConfig"] = {
            _SNAKE.sub(lambda m: m.group(1).upper(), k): v for k, v in config.items()
        }
    return request


def _inline_items(requests: Any) -> list[Item] | str:
    listed = requests.get("requests") if isinstance(requests, dict) else None
    if not isinstance(listed, list):
        return "batch.inputConfig.requests.requests must be a list of {request, metadata}."
    items = []
    for index, entry in enumerate(listed):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            return f"batch.inputConfig.requests.requests[{index}].request must be a GenerateContentRequest object."
        metadata = entry.get("metadata")
        items.append(
            Item(camel(request), metadata=metadata if isinstance(metadata, dict) else None)
        )
    return items


def _file_items(sim: Simulator, file_name: Any) -> tuple[list[Item] | str, int]:
    """The file's requests (or what is wrong with it) and its size in bytes."""
    stored = sim.files.get(str(file_name).removeprefix("files/"))
    if stored is None or stored.generated:
        return f"batch.inputConfig.fileName {file_name!r} is not an uploaded file.", 0
    return _lines_items(file_name, stored.data), len(stored.data)


def _lines_items(file_name: Any, data: bytes) -> list[Item] | str:
    items = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            return f"{file_name} line {number} is not JSON."
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("key"), str)
            and isinstance(entry.get("request"), dict)
        ):
            return f'{file_name} line {number} must be {{"key": string, "request": GenerateContentRequest}}.'
        items.append(Item(camel(entry["request"]), key=entry["key"]))
    return items


def _answer(sim: Simulator, job: BatchJob, item: Item) -> dict[str, Any] | None:
    """The item's output line, None when this request is to be missing from the output."""
    config, stats = sim.config, sim.stats.batch
    prompt = read_prompt(sim, item.request)
    stats.requests += 1
    if sim.chance(config.batch_missing_rate):
        stats.missing += 1
        job.succeeded += 1  # the job does not know it lost the answer; only the output shows it
        return None
    if hits_error_ids(sim, prompt) or sim.chance(config.batch_failure_rate):
        stats.failed += 1
        job.failed += 1
        return item.output({"error": {"code": _INTERNAL, "message": replies.INTERNAL_MESSAGE}})
    generated = generate(sim, job.model, prompt)
    stats.record(prompt.input_tokens, generated)
    job.succeeded += 1
    return item.output({"response": generated.payload})


async def _run(sim: Simulator, job: BatchJob) -> None:
    turnaround, pending_share = sim.config.batch_turnaround_s, sim.config.batch_pending_share
    await asyncio.sleep(turnaround * pending_share)
    outcome = sim.config.batch_outcome
    running_s = turnaround * (1 - pending_share)
    if outcome == "expired":
        await asyncio.sleep(running_s)
        _end(sim, job, "BATCH_STATE_EXPIRED",
             {"code": _DEADLINE_EXCEEDED, "message": "The batch expired before it ran."})
        return
    job.move("BATCH_STATE_RUNNING")
    step = math.ceil(len(job.items) / _SLICES)
    slices = math.ceil(len(job.items) / step)
    outputs = []
    for start in range(0, len(job.items), step):
        await asyncio.sleep(running_s / slices)
        for offset, item in enumerate(
            job.items[start : start + step] if outcome != "failed" else ()
        ):
            if (line := _answer(sim, job, item)) is not None:
                outputs.append(line)
            if offset % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)  # a big job must not hold up online requests and polls
    if outcome == "failed":
        _end(sim, job, "BATCH_STATE_FAILED", {"code": _INTERNAL, "message": "The batch failed (simulated)."})
        return
    if sim.config.batch_shuffle:
        sim.rng.shuffle(outputs)
    await (job.deliver or _deliver)(sim, job, outputs)
    partly = outcome == "partially_succeeded" and job.vertex is not None
    _end(sim, job, "BATCH_STATE_PARTIALLY_SUCCEEDED" if partly else "BATCH_STATE_SUCCEEDED")


def _end(sim: Simulator, job: BatchJob, state: str, error: dict[str, Any] | None = None) -> None:
    job.move(state, error)
    sim.stats.batch.last_job_ended_at = timestamp(job.updated)


async def _deliver(sim: Simulator, job: BatchJob, outputs: list[dict[str, Any]]) -> None:
    if job.from_file:
        lines = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in outputs)
        job.output = {
            "responsesFile": store_generated(sim, f"batch-{job.job_id}", lines.encode()).name
        }
    else:
        job.output = {"inlinedResponses": {"inlinedResponses": outputs}}


def _crashed(job: BatchJob, task: asyncio.Task) -> None:
    # A bug in the simulator ends the job FAILED with the reason, rather than PENDING forever.
    if not task.cancelled() and (exc := task.exception()) is not None:
        job.move("BATCH_STATE_FAILED", {"code": _INTERNAL, "message": f"simulator error: {exc!r}"})


async def _create(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    if (rejected := replies.bad_api_key(sim, request)) is not None:
        return rejected
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    batch = body.get("batch") if isinstance(body, dict) else None
    input_config = batch.get("inputConfig") if isinstance(batch, dict) else None
    if not isinstance(input_config, dict):
        return replies.invalid_argument(sim, 'The body must be {"batch": {"inputConfig": {...}}}.')
    if "requests" in input_config:
        if len(raw) > sim.config.batch_inline_max_bytes:
            limit = sim.config.batch_inline_max_bytes
            return replies.invalid_argument(
                sim, f"Request payload size exceeds the limit: {limit} bytes."
            )
        items, size = _inline_items(input_config["requests"]), len(raw)
    elif "fileName" in input_config:
        items, size = _file_items(sim, input_config["fileName"])
    else:
        return replies.invalid_argument(sim, "batch.inputConfig needs requests or fileName.")
    if isinstance(items, str):
        return replies.invalid_argument(sim, items)
    if not items:
        return replies.invalid_argument(sim, "The batch has no requests.")
    tokens = job_limits.input_tokens(items)
    if (refused := job_limits.check_gemini_api(sim, items, size, tokens)) is not None:
        return refused
    model = request.match_info["model"]
    job = BatchJob(
        uuid.uuid4().hex[:20],
        model,
        str(batch.get("displayName") or ""),
        items,
        "fileName" in input_config,
        tokens=tokens,
    )
    start_job(sim, job, size)
    return replies.json_response(200, job.operation())


def start_job(sim: Simulator, job: BatchJob, size: int) -> None:
    """Keep the job and run it in the background (both platforms' jobs count in stats.batch)."""
    sim.jobs[job.job_id] = job
    sim.stats.batch.jobs_created += 1
    job_limits.measure(sim, job, size)
    job.task = asyncio.get_running_loop().create_task(_run(sim, job))
    job.task.add_done_callback(lambda task: _crashed(job, task))


async def _stop_jobs(app: web.Application) -> None:
    for job in app[SIMULATOR].jobs.values():
        job.stop()


def add_routes(app: web.Application) -> None:
    version = replies.VERSION_PATH
    app.router.add_post(f"/{version}/models/{{model:[^/:]+}}:batchGenerateContent", _create)
    platform = Platform(vertex=False, collection="batches", list_field="operations",
                        render=BatchJob.operation, deleted=lambda job: {})
    add_job_routes(app, f"/{version}/batches", platform)
    app.on_cleanup.append(_stop_jobs)
