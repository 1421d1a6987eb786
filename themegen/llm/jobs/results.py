"""A batch job's output read back and validated exactly as online answers are (pure).

Output lines are `{"key", "response"}` or `{"key", "error"}`, in any order: each is matched to its
request by key, never by position, and a request whose key is absent got no answer. A response
goes through the online checks (generator/gemini.py `check_finish`: declined or cut short) and
parsers (prompt.py: one row's themes, or a packed answer's items by row id). A row gets:
- an Answer (valid themes), written to the sink by the caller (to_sink.py);
- a BLOCKED failure when the model declined a single-row request (online records the same, and
  would not ask again);
- None otherwise (error line, missing, invalid): the batch task asks it online, with the repair retry.
The output is read line by line (`matched`): a job's output is never held whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from google.genai import types

from themegen.llm.gemini.generator import (
    Answer,
    Blocked,
    Reply,
    answer_of,
    check_finish,
    reply_of,
)
from themegen.llm.jobs.requests import JobRequest
from themegen.domain.models import Reason, RowFailure
from themegen.domain.prompt import InvalidAnswer, parse_answer, parse_items


@dataclass
class JobOutput:
    """What a job's output gave, counted as its lines are read."""

    rows_answered: int = 0
    rows_left: int = 0  # asked online: missing, error line, invalid (declined single rows not included)
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0  # requests answered with an error line
    missing: int = 0  # requests whose key is not in the output
    invalid: int = 0  # rows whose answer did not validate


Outcomes = dict[str, Answer | RowFailure | None]  # row id -> what the output gave it (None: ask online)


def matched(lines: Iterable[str], take: Callable[[str], JobRequest | None],
            unseen: Callable[[], Iterable[JobRequest]]) -> Iterator[tuple[JobRequest, dict | None]]:
    """Each request with its output line, matched by key as the lines come (None: no line for it).
    `take(key)` gives a key's request the first time (work.py), `unseen()` the requests no line
    matched; lines of keys not asked, or a key's second line, are left out."""
    for line in lines:
        entry = json.loads(line) if line.strip() else None
        key = entry.get("key") if isinstance(entry, dict) else None
        if isinstance(key, str) and (request := take(key)) is not None:
            yield request, entry
    for request in unseen():
        yield request, None


def _response(body: dict) -> types.GenerateContentResponse:
    return types.GenerateContentResponse._from_response(response=body, kwargs={})


def _answers(request: JobRequest, response: types.GenerateContentResponse,
             reply: Reply) -> dict[str, Answer | RowFailure | None]:
    rows = request.rows
    try:
        check_finish(response)
        if len(rows) == 1:  # a job keeps no row texts: the sink stores themes and the input's hash
            return {rows[0].id: answer_of(rows[0].id, "", parse_answer(reply.text), reply.text, reply)}
        parsed = parse_items(reply.text, [r.id for r in rows])
    except Blocked as declined:
        if len(rows) == 1:
            return {rows[0].id: RowFailure(source_id=rows[0].id, batch_id=0, reason=Reason.BLOCKED,
                                           error=f"the model declined: {declined}", attempts=1)}
        return dict.fromkeys(r.id for r in rows)  # online asks a declined pack's rows alone, too
    except InvalidAnswer:
        return dict.fromkeys(r.id for r in rows)
    share = Reply(text="", input_tokens=reply.input_tokens // len(rows), output_tokens=reply.output_tokens // len(rows))
    return {r.id: None if isinstance(parsed[r.id], InvalidAnswer) else
            answer_of(r.id, "", parsed[r.id], json.dumps({"themes": parsed[r.id]}, ensure_ascii=False), share)
            for r in rows}


def outcomes(request: JobRequest, line: dict | None, out: JobOutput) -> Outcomes:
    """What one request's output line gives its rows, counted into `out`."""
    if line is None or "response" not in line:
        out.missing += line is None
        out.errors += line is not None
        answers: Outcomes = dict.fromkeys(r.id for r in request.rows)
    else:
        response = _response(line["response"])
        reply = reply_of(response)
        out.input_tokens += reply.input_tokens
        out.output_tokens += reply.output_tokens
        answers = _answers(request, response, reply)
        out.invalid += sum(a is None for a in answers.values())
    out.rows_answered += sum(isinstance(a, Answer) for a in answers.values())
    out.rows_left += sum(a is None for a in answers.values())
    return answers
