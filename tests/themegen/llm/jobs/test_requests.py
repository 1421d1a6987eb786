"""A batch job's requests: packed as online, the online request's contents and config as REST JSON,
written to job files that a new file starts whenever one would pass a per-job limit, and a record
key that follows the content."""

from __future__ import annotations

import json

from tests.themegen.llm.gemini.test_generator import settings_for
from themegen.domain.generation import Generation, Pending
from themegen.domain.prompt import (
    ITEMS_JSON_SCHEMA,
    THEMES_JSON_SCHEMA,
    input_hash,
    prompt_of,
    user_content,
)
from themegen.llm.jobs.requests import JobFile, JobFiles, JobLine, JobRow, job_line, pack, request_json
from themegen.llm.jobs.settings import JobLimits

SETTINGS = settings_for("http://127.0.0.1:9", rows_per_request=2)
NO_LIMITS = JobLimits(max_requests=None, max_bytes=10**9, max_tokens=None, max_concurrent=1)


def row(row_id: str, text: str) -> Pending:
    digest = input_hash(text)
    return Pending(row_id, text, digest, Generation(SETTINGS.model, SETTINGS.prompt_version, "fp").row_key(row_id, digest))


def line_of(rows: tuple[Pending, ...], batch_id: int = 0) -> JobLine:
    return job_line(rows, tuple(JobRow(r.id, r.digest, batch_id) for r in rows), SETTINGS)


ROWS = [row("a", "The app crashes"), row("b", "Great!"), row("d", "Slow delivery"), row("e", "Refund took weeks"),
        row("f", "Friendly support")]


def test_rows_are_packed_as_online_and_each_request_key_names_its_rows():
    lines = [line_of(p, 7) for p in pack(ROWS[:4], 2)]
    assert [[r.id for r in line.request.rows] for line in lines] == [["a", "b"], ["d", "e"]]
    assert len({line.request.key for line in lines}) == 2 and lines[0].request.rows[0].batch_id == 7
    assert line_of((ROWS[0],)).request.key != line_of((row("a", "Other text"),)).request.key
    assert lines[0].tokens > len("The app crashes") // 4  # the instruction counts too


def test_a_request_carries_the_online_contents_instruction_and_schema():
    packed, single = pack(ROWS[:2], 2)[0], (ROWS[2],)
    body = request_json(packed, SETTINGS)
    assert body["contents"][0]["parts"][0]["text"] == user_content([("a", "The app crashes"), ("b", "Great!")])
    assert body["systemInstruction"]["parts"][0]["text"] == prompt_of(SETTINGS).system_instruction(packed=True)
    config = body["generationConfig"]
    assert config["responseJsonSchema"] == ITEMS_JSON_SCHEMA and config["responseMimeType"] == "application/json"
    assert config["maxOutputTokens"] == 2 * SETTINGS.max_output_tokens and config["temperature"] == SETTINGS.temperature
    alone = request_json(single, SETTINGS)
    assert alone["generationConfig"]["responseJsonSchema"] == THEMES_JSON_SCHEMA
    assert alone["systemInstruction"]["parts"][0]["text"] == prompt_of(SETTINGS).system_instruction(packed=False)
    json.dumps(body)  # a JSONL line: plain JSON all through


def write(directory, lines, limits: JobLimits, model: str = SETTINGS.model) -> list[JobFile]:
    directory.mkdir()
    files, done = JobFiles(directory, model, limits), []
    for line in lines:
        _, closed = files.add(line)
        done += [closed] if closed else []
    return done + ([last] if (last := files.close()) else [])


def test_a_new_job_starts_when_the_next_request_would_pass_a_limit(tmp_path):
    lines = [line_of((r,)) for r in ROWS]
    [whole] = write(tmp_path / "one", lines, NO_LIMITS)
    written = whole.path.read_bytes().decode().splitlines()
    assert [json.loads(line)["key"] for line in written] == [line.request.key for line in lines]
    assert (whole.requests, whole.rows, whole.size) == (5, 5, whole.path.stat().st_size)

    by_count = write(tmp_path / "count", lines, JobLimits(2, 10**9, None, 1))
    assert [f.requests for f in by_count] == [2, 2, 1] and [f.index for f in by_count] == [0, 1, 2]
    limit = 2 * max(len(line.data) for line in lines)
    by_bytes = write(tmp_path / "bytes", lines, JobLimits(None, limit, None, 1))
    assert len(by_bytes) >= 3 and all(f.path.stat().st_size <= limit for f in by_bytes)
    by_tokens = write(tmp_path / "tokens", lines, JobLimits(None, 10**9, 3 * max(line.tokens for line in lines), 1))
    assert [f.requests for f in by_tokens] == [3, 2]
    assert sum(f.requests for f in by_bytes) == 5 and len({f.record_key for f in by_count}) == 3


def test_the_record_key_follows_the_model_and_the_requests(tmp_path):
    def key(model: str, rows: list[Pending], name: str) -> str:
        [written] = write(tmp_path / name, [line_of(p) for p in pack(rows, 2)], NO_LIMITS, model)
        return written.record_key

    first = key("gemini-2.5-flash", ROWS, "a")
    assert first.startswith("batch-jobs/") and first == key("gemini-2.5-flash", ROWS, "b")  # a rerun finds it
    assert first != key("gemini-2.5-flash-lite", ROWS, "c")
    assert first != key("gemini-2.5-flash", ROWS[:4], "d")
