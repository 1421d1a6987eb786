"""A job's output read back: matched by key whatever the order, validated as online answers are;
what is missing, an error or invalid is left for the online path (None)."""

from __future__ import annotations

import json
import random

from themegen.domain.generation import Pending
from themegen.llm.gemini.generator import Answer
from themegen.llm.jobs.requests import JobRequest, JobRow, pack, request_key
from themegen.llm.jobs.results import JobOutput, Outcomes, matched, outcomes
from themegen.domain.models import Reason, RowFailure
from themegen.domain.prompt import input_hash

THEMES = ["delivery", "damage", "refund", "support", "packaging", "delay"]
ROWS = [Pending(f"r{i}", f"text {i}", input_hash(f"text {i}"), f"key-{i}") for i in range(7)]


def response(text: str, finish: str = "STOP", tokens: tuple[int, int] = (100, 60)) -> dict:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}],
            "usageMetadata": {"promptTokenCount": tokens[0], "candidatesTokenCount": tokens[1]}}


def items(*ids: str) -> str:
    return json.dumps({"items": [{"id": i, "themes": THEMES} for i in ids]})


def requests_of(rows: list[Pending], rows_per_request: int) -> list[JobRequest]:
    return [JobRequest(request_key(p), tuple(JobRow(r.id, r.digest, 0) for r in p)) for p in pack(rows, rows_per_request)]


def read(requests: list[JobRequest], lines: list[dict]) -> tuple[Outcomes, JobOutput]:
    """Every row's outcome, as the batch step reads them (line by line, each request by its key; a
    dict stands for the run's work store)."""
    out, found, waiting = JobOutput(), {}, {request.key: request for request in requests}
    for request, line in matched([json.dumps(line) for line in lines] + [""], lambda key: waiting.pop(key, None),
                                 lambda: list(waiting.values())):
        found |= outcomes(request, line, out)
    return found, out


def test_answers_map_by_key_not_position_and_what_is_left_goes_online():
    requests = requests_of(ROWS[:6], 2) + requests_of(ROWS[6:], 2)  # [r0 r1] [r2 r3] [r4 r5] [r6]
    lines = [
        {"key": requests[0].key, "response": response(items("r0", "r1"))},
        {"key": requests[1].key, "response": response(items("r2") + "")},  # r3's item is missing
        {"key": requests[2].key, "error": {"code": 13, "message": "internal"}},
        {"key": "not-asked", "response": response(items("r0", "r1"))},
        # requests[3] (r6) is missing from the output
    ]
    random.Random(3).shuffle(lines)

    answers, output = read(requests, lines)

    assert {i for i, a in answers.items() if isinstance(a, Answer)} == {"r0", "r1", "r2"}
    assert all(answers[i] is None for i in ("r3", "r4", "r5", "r6"))
    assert answers["r0"].themes == THEMES and json.loads(answers["r0"].raw_text) == {"themes": THEMES}
    assert (output.missing, output.errors, output.invalid, output.rows_answered, output.rows_left) == (1, 1, 1, 3, 4)
    assert (output.input_tokens, output.output_tokens) == (200, 120)  # the two responses, not the stray line
    assert answers["r2"].input_tokens == 50  # a packed answer's tokens shared by its rows, as online


def test_a_single_row_answer_is_validated_as_online():
    requests = requests_of(ROWS[:3], 1)
    lines = [{"key": requests[0].key, "response": response(json.dumps({"themes": THEMES}))},
             {"key": requests[1].key, "response": response(json.dumps({"themes": THEMES[:5]}))},  # five themes
             {"key": requests[2].key, "response": response("", finish="SAFETY")}]

    answers, output = read(requests, lines)

    assert answers["r0"].themes == THEMES and answers["r1"] is None
    declined = answers["r2"]
    assert isinstance(declined, RowFailure) and declined.reason == Reason.BLOCKED and "SAFETY" in declined.error
    assert (output.rows_answered, output.rows_left) == (1, 1)  # the declined row is settled, not asked again


def test_a_declined_or_cut_pack_is_asked_online_row_by_row():
    requests = requests_of(ROWS[:4], 2)
    lines = [{"key": requests[0].key, "response": response(items("r0", "r1"), finish="SAFETY")},
             {"key": requests[1].key, "response": response(items("r2", "r3")[:40], finish="MAX_TOKENS")}]
    answers, output = read(requests, lines)
    assert all(answers[f"r{i}"] is None for i in range(4)) and output.invalid == 4
