"""A batch job's requests: one per distinct text, packed as online, the online request's contents
and config as REST JSON, split into files by size, and a record key that follows the content."""

from __future__ import annotations

import json

from google import genai

from tests.themegen.generator.test_gemini import settings_for
from themegen.batch import Pending
from themegen.cache import cache_key
from themegen.jobs.requests import (
    job_record_key,
    jsonl_files,
    one_per_text,
    pack,
    request_json,
)
from themegen.prompt import (
    ITEMS_JSON_SCHEMA,
    THEMES_JSON_SCHEMA,
    input_hash,
    system_instruction,
    user_content,
)

SETTINGS = settings_for("http://127.0.0.1:9", rows_per_request=2)
CLIENT = genai.Client(api_key="k")


def row(row_id: str, text: str) -> Pending:
    digest = input_hash(text)
    return Pending(row_id, text, digest, cache_key(row_id, SETTINGS.model, SETTINGS.prompt_version, "fp", digest))


ROWS = [row("c", "Great!"), row("a", "The app crashes"), row("b", "Great!"), row("d", "Slow delivery"),
        row("e", "Refund took weeks")]


def test_one_row_per_distinct_text_in_id_order():
    assert [r.id for r in one_per_text(ROWS, SETTINGS, "fp")] == ["a", "b", "d", "e"]  # "c" takes b's answer


def test_rows_are_packed_as_online_and_each_request_key_names_its_rows():
    requests = pack(one_per_text(ROWS, SETTINGS, "fp"), 2)
    assert [[r.id for r in q.rows] for q in requests] == [["a", "b"], ["d", "e"]]
    assert len({q.key for q in requests}) == 2
    assert pack([ROWS[0]], 2)[0].key != pack([row("c", "Other text")], 2)[0].key  # same id, other text


def test_a_request_carries_the_online_contents_instruction_and_schema():
    packed, single = pack(one_per_text(ROWS, SETTINGS, "fp"), 2)[0], pack([ROWS[3]], 2)[0]
    body = request_json(packed, SETTINGS, CLIENT)
    assert body["contents"][0]["parts"][0]["text"] == user_content([("a", "The app crashes"), ("b", "Great!")])
    assert body["systemInstruction"]["parts"][0]["text"] == system_instruction(packed=True)
    config = body["generationConfig"]
    assert config["responseJsonSchema"] == ITEMS_JSON_SCHEMA and config["responseMimeType"] == "application/json"
    assert config["maxOutputTokens"] == 2 * SETTINGS.max_output_tokens and config["temperature"] == SETTINGS.temperature
    alone = request_json(single, SETTINGS, CLIENT)
    assert alone["generationConfig"]["responseJsonSchema"] == THEMES_JSON_SCHEMA
    assert alone["systemInstruction"]["parts"][0]["text"] == system_instruction(packed=False)
    json.dumps(body)  # a JSONL line: plain JSON all through


def test_requests_are_split_into_files_under_the_size_limit_and_keep_their_order():
    requests = pack(one_per_text(ROWS, SETTINGS, "fp"), 1)
    [(whole, members)] = jsonl_files(requests, SETTINGS, CLIENT)
    lines = whole.decode().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [q.key for q in requests] == [q.key for q in members]
    files = jsonl_files(requests, SETTINGS, CLIENT, max_bytes=2 * max(len(line) + 1 for line in lines))
    assert len(files) == 2 and [q.key for _, m in files for q in m] == [q.key for q in requests]
    assert all(len(data) <= 2 * max(len(line) + 1 for line in lines) for data, _ in files)


def test_the_record_key_follows_the_model_and_the_requests():
    data = jsonl_files(pack(ROWS, 2), SETTINGS, CLIENT)[0][0]
    assert job_record_key("m", data) == job_record_key("m", data)
    assert job_record_key("m", data) != job_record_key("other-model", data)
    assert job_record_key("m", data) != job_record_key("m", jsonl_files(pack(ROWS[:4], 2), SETTINGS, CLIENT)[0][0])
