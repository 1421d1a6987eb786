"""A batch job's requests: one per distinct text, packed as online, the online request's contents
and config as REST JSON, split into files by size, and a record key that follows the content."""

from __future__ import annotations

import json

from tests.themegen.llm.gemini.test_generator import settings_for
from themegen.domain.generation import Generation, Pending
from themegen.llm.jobs.requests import (
    one_per_text,
    pack,
    request_json,
    write_job_files,
)
from themegen.domain.prompt import (
    ITEMS_JSON_SCHEMA,
    THEMES_JSON_SCHEMA,
    input_hash,
    prompt_of,
    user_content,
)

SETTINGS = settings_for("http://127.0.0.1:9", rows_per_request=2)


def row(row_id: str, text: str) -> Pending:
    digest = input_hash(text)
    return Pending(row_id, text, digest, Generation(SETTINGS.model, SETTINGS.prompt_version, "fp").row_key(row_id, digest))


ROWS = [row("c", "Great!"), row("a", "The app crashes"), row("b", "Great!"), row("d", "Slow delivery"),
        row("e", "Refund took weeks")]


def test_one_row_per_distinct_text_in_id_order():
    assert [r.id for r in one_per_text(ROWS)] == ["a", "b", "d", "e"]  # "c" takes b's answer


def test_rows_are_packed_as_online_and_each_request_key_names_its_rows():
    requests = pack(one_per_text(ROWS), 2)
    assert [[r.id for r in q.rows] for q in requests] == [["a", "b"], ["d", "e"]]
    assert len({q.key for q in requests}) == 2
    assert pack([ROWS[0]], 2)[0].key != pack([row("c", "Other text")], 2)[0].key  # same id, other text


def test_a_request_carries_the_online_contents_instruction_and_schema():
    packed, single = pack(one_per_text(ROWS), 2)[0], pack([ROWS[3]], 2)[0]
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


def test_requests_are_written_to_files_under_the_size_limit_in_order(tmp_path):
    requests = pack(one_per_text(ROWS), 1)
    (tmp_path / "one").mkdir()
    [whole] = write_job_files(requests, SETTINGS, tmp_path / "one")
    lines = whole.path.read_bytes().decode().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [q.key for q in requests] == [q.key for q in whole.requests]
    limit = 2 * max(len(line.encode()) + 1 for line in lines)
    (tmp_path / "split").mkdir()
    files = write_job_files(requests, SETTINGS, tmp_path / "split", max_bytes=limit)
    assert len(files) == 2 and [q.key for f in files for q in f.requests] == [q.key for q in requests]
    assert all(f.path.stat().st_size <= limit for f in files)
    assert len({f.record_key for f in files}) == 2


def test_the_record_key_follows_the_model_and_the_requests(tmp_path):
    def key(model: str, rows: list[Pending], name: str) -> str:
        (tmp_path / name).mkdir()
        [written] = write_job_files(pack(rows, 2), SETTINGS.with_overrides(model=model), tmp_path / name)
        return written.record_key

    first = key("gemini-2.5-flash", ROWS, "a")
    assert first.startswith("batch-jobs/") and first == key("gemini-2.5-flash", ROWS, "b")  # a rerun finds it
    assert first != key("gemini-2.5-flash-lite", ROWS, "c")
    assert first != key("gemini-2.5-flash", ROWS[:4], "d")
