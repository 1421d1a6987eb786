"""A batch job's requests, built exactly as the online path builds its own (pure).

The rows are those the batch tasks would send (themegen/pipeline/settle.py `unsettled`), one per distinct
text as online (identical texts are paid once), packed `rows_per_request` to a request with the
same contents (prompt.user_content) and config (gemini/client.generation_config: instruction,
response schema, output budget, thinking budget) as online, written as the REST JSON of a
GenerateContentRequest the way the online client sends it (request_body.py, checked against
google-genai's wire form by its test), so the JSONL line and an online request cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from themegen.domain.generation import Pending
from themegen.llm.gemini.client import generation_config
from themegen.llm.jobs.request_body import request_body
from themegen.domain.prompt import user_content
from themegen.config.settings import Settings

# The Gemini API takes input files of up to 2 GB; a margin for the service's own accounting.
MAX_JOB_BYTES = 1_900_000_000


@dataclass(frozen=True)
class JobRequest:
    """One request of a job: its key in the JSONL (a hash of its rows) and the rows it carries."""

    key: str
    rows: tuple[Pending, ...]


def one_per_text(rows: list[Pending]) -> list[Pending]:
    """The first row (by id) of each distinct text: the others take its answer from the text key
    (one run, one generation: the same text hash is the same text key)."""
    seen: set[str] = set()
    leaders = []
    for row in sorted(rows, key=lambda r: r.id):
        if row.digest not in seen:
            seen.add(row.digest)
            leaders.append(row)
    return leaders


def request_key(rows: tuple[Pending, ...]) -> str:
    """The request's key: its rows' ids and text hashes, so an answer can only map to the rows it answers."""
    return hashlib.sha256("\x1e".join(f"{r.id}\x1f{r.digest}" for r in rows).encode()).hexdigest()[:32]


def pack(rows: list[Pending], rows_per_request: int) -> list[JobRequest]:
    """Rows in order, `rows_per_request` to a request (the last one may carry fewer)."""
    packs = [tuple(rows[i:i + rows_per_request]) for i in range(0, len(rows), rows_per_request)]
    return [JobRequest(request_key(p), p) for p in packs]


def request_json(request: JobRequest, settings: Settings) -> dict:
    """The GenerateContentRequest as REST JSON: the online request's contents and config (the same
    on both backends)."""
    contents = user_content([(r.id, r.text) for r in request.rows])
    return request_body(contents, generation_config(settings, rows=len(request.rows)))


@dataclass(frozen=True)
class JobFile:
    """One job's input: a JSONL file of {"key", "request"} lines, its requests in line order, and
    where the row cache keeps the job they went to."""

    path: Path
    requests: list[JobRequest]
    record_key: str


class _FileWriter:
    """One job's JSONL file being written, hashed as it goes."""

    def __init__(self, path: Path, model: str) -> None:
        self.path, self.out = path, path.open("wb")
        self.digest = hashlib.sha256(model.encode() + b"\n")
        self.requests: list[JobRequest] = []
        self.size = 0

    def add(self, request: JobRequest, line: bytes) -> None:
        self.out.write(line)
        self.digest.update(line)
        self.requests.append(request)
        self.size += len(line)

    def close(self) -> JobFile:
        self.out.close()
        digest = self.digest.hexdigest()
        return JobFile(self.path, self.requests, f"batch-jobs/{digest[:2]}/{digest}.json")


def write_job_files(requests: list[JobRequest], settings: Settings, directory: Path,
                    max_bytes: int = MAX_JOB_BYTES) -> list[JobFile]:
    """The job inputs, written line by line (a run's requests never sit in memory as text), a new
    file when one would pass max_bytes. The record key is a hash of the model and the file itself
    (prompt, schema, config, row ids and texts), so the same requests find the same job."""
    files: list[JobFile] = []
    writer: _FileWriter | None = None
    for request in requests:
        line = (json.dumps({"key": request.key, "request": request_json(request, settings)},
                           ensure_ascii=False) + "\n").encode()
        if writer is None or (writer.requests and writer.size + len(line) > max_bytes):
            if writer is not None:
                files.append(writer.close())
            writer = _FileWriter(directory / f"requests-{len(files)}.jsonl", settings.model)
        writer.add(request, line)
    if writer is not None:
        files.append(writer.close())
    return files
