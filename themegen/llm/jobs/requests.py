"""A batch job's requests, built exactly as the online path builds its own (pure), and the job files
they are written to as they come (never held as a list).

The rows are those the batch tasks would send (themegen/pipeline/settle.py `unsettled`), one per distinct
text as online (identical texts are paid once: work.py keeps which texts a run already asks), packed
`rows_per_request` to a request with the same contents (prompt.user_content) and config
(gemini/client.generation_config: instruction, response schema, output budget, thinking budget) as
online, written as the REST JSON of a GenerateContentRequest the way the online client sends it
(request_body.py, checked against google-genai's wire form by its test), so the JSONL line and an
online request cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from themegen.config.settings import Settings
from themegen.domain.generation import Pending
from themegen.domain.prompt import user_content
from themegen.llm.gemini.client import generation_config
from themegen.llm.jobs.request_body import request_body
from themegen.llm.jobs.settings import JobLimits

CHARS_PER_TOKEN = 4  # the estimate of a request's input tokens before the service counts them


class JobRow(NamedTuple):
    """A row a job answers: what its sink record and its row cache key need (not its text), and what
    the sink held for it when the plan was read (what its new outcome makes stale: to_sink.py)."""

    id: str
    digest: str
    batch_id: int
    had_themes: bool = False
    had_failure: bool = False


@dataclass(frozen=True)
class JobRequest:
    """One request of a job: its key in the JSONL (a hash of its rows) and the rows it carries."""

    key: str
    rows: tuple[JobRow, ...]


@dataclass(frozen=True)
class JobLine:
    """A request as one JSONL line, with its estimated input tokens."""

    request: JobRequest
    data: bytes
    tokens: int


def request_key(rows: tuple[Pending, ...]) -> str:
    """The request's key: its rows' ids and text hashes, so an answer can only map to the rows it answers."""
    return hashlib.sha256("\x1e".join(f"{r.id}\x1f{r.digest}" for r in rows).encode()).hexdigest()[:32]


def pack(rows: list[Pending], rows_per_request: int) -> list[tuple[Pending, ...]]:
    """Rows in order, `rows_per_request` to a request (the last one may carry fewer)."""
    return [tuple(rows[i:i + rows_per_request]) for i in range(0, len(rows), rows_per_request)]


def request_json(rows: tuple[Pending, ...], settings: Settings) -> dict:
    """The GenerateContentRequest as REST JSON: the online request's contents and config (the same
    on both backends)."""
    contents = user_content([(r.id, r.text) for r in rows])
    return request_body(contents, generation_config(settings, rows=len(rows)))


def _estimated_tokens(body: dict) -> int:
    texts = [part["text"] for turn in (*body["contents"], body.get("systemInstruction", {"parts": []}))
             for part in turn["parts"]]
    return math.ceil(sum(len(text) for text in texts) / CHARS_PER_TOKEN)


def job_line(rows: tuple[Pending, ...], job_rows: tuple[JobRow, ...], settings: Settings) -> JobLine:
    """One request's JSONL line {"key", "request"} for these rows (pure)."""
    key, body = request_key(rows), request_json(rows, settings)
    data = (json.dumps({"key": key, "request": body}, ensure_ascii=False) + "\n").encode()
    return JobLine(JobRequest(key, job_rows), data, _estimated_tokens(body))


@dataclass(frozen=True)
class JobFile:
    """One job's input: a JSONL file of {"key", "request"} lines, its counts, and where the row cache
    keeps the job they went to (a hash of the model and the file itself: prompt, schema, config, row
    ids and texts, so the same requests find the same job)."""

    index: int  # the run's job number: its requests are kept under it (work.py)
    path: Path
    record_key: str
    requests: int
    rows: int
    size: int
    tokens: int


class JobFiles:
    """Job files written line by line: a new file whenever the next line would pass one of the limits
    (requests, bytes, estimated tokens). Holds the open file and counters, never the requests."""

    def __init__(self, directory: Path, model: str, limits: JobLimits) -> None:
        self.directory, self.model, self.limits = directory, model, limits
        self.index = -1
        self.out = None

    def _open(self) -> None:
        self.index += 1
        self.path = self.directory / f"requests-{self.index}.jsonl"
        self.out = self.path.open("wb")
        self.digest = hashlib.sha256(self.model.encode() + b"\n")
        self.requests = self.rows = self.size = self.tokens = 0

    def _full(self, line: JobLine) -> bool:
        limits = self.limits
        return self.requests > 0 and (
            (limits.max_requests is not None and self.requests + 1 > limits.max_requests)
            or self.size + len(line.data) > limits.max_bytes
            or (limits.max_tokens is not None and self.tokens + line.tokens > limits.max_tokens))

    def add(self, line: JobLine) -> tuple[int, JobFile | None]:
        """Write the line; (the job number it went to, the file it closed first, if it did)."""
        if len(line.data) > self.limits.max_bytes or (self.limits.max_tokens and line.tokens > self.limits.max_tokens):
            raise ValueError(f"one request (rows {', '.join(r.id for r in line.request.rows)}) is larger than a "
                             "job may be: lower THEMEGEN_ROWS_PER_REQUEST or raise THEMEGEN_JOBS_MAX_BYTES / "
                             "THEMEGEN_JOBS_MAX_ENQUEUED_TOKENS")
        closed = self.close() if self.out is not None and self._full(line) else None
        if self.out is None:
            self._open()
        self.out.write(line.data)
        self.digest.update(line.data)
        self.requests += 1
        self.rows += len(line.request.rows)
        self.size += len(line.data)
        self.tokens += line.tokens
        return self.index, closed

    def close(self) -> JobFile | None:
        """The open file, closed (None when none is open)."""
        if self.out is None:
            return None
        self.out.close()
        self.out = None
        digest = self.digest.hexdigest()
        return JobFile(self.index, self.path, f"batch-jobs/{digest[:2]}/{digest}.json", self.requests, self.rows,
                       self.size, self.tokens)
