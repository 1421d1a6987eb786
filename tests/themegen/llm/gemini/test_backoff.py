"""The generator's retry loop (`_send_with_backoff`) without a server: tenacity's policies as
AsyncRetrying applied them, and no reference cycles left behind by an answered request."""

from __future__ import annotations

import asyncio
import gc

import pytest
from google.genai import errors
from tenacity import RetryError

from tests.themegen.llm.gemini.test_generator import settings_for
from themegen.llm.gemini.generator import GeminiGenerator, Reply

UNAVAILABLE = errors.ServerError(503, {"error": {"code": 503, "status": "UNAVAILABLE"}})
REPLY = Reply(text='{"themes": []}', input_tokens=1, output_tokens=1)


def generator_failing(times: int, error: BaseException = UNAVAILABLE, max_attempts: int = 3):
    """A generator whose request fails `times` times, then answers; and the waits it was told."""
    generator = GeminiGenerator(settings_for("http://127.0.0.1:9", max_attempts=max_attempts))
    calls, waits = [], []

    async def send(rows, config):
        calls.append(rows)
        if len(calls) <= times:
            raise error
        return REPLY

    def wait(state):
        waits.append((state.attempt_number, state.outcome.exception()))
        return 0.0

    generator._send, generator._wait = send, wait
    return generator, calls, waits


async def test_an_answer_at_once_makes_one_attempt_and_no_retry():
    generator, calls, waits = generator_failing(0)
    attempts = [0]
    assert await generator._send_with_backoff([("r1", "t")], None, attempts) is REPLY
    assert (attempts, len(calls), waits, generator.usage.retries) == ([1], 1, [], 0)


async def test_retryable_errors_are_retried_with_the_waits_of_each_attempt():
    generator, calls, waits = generator_failing(2)
    attempts = [0]
    assert await generator._send_with_backoff([("r1", "t")], None, attempts) is REPLY
    assert (attempts, len(calls), generator.usage.retries) == ([3], 3, 2)
    assert waits == [(1, UNAVAILABLE), (2, UNAVAILABLE)]


async def test_spent_attempts_raise_retry_error_from_the_last_error():
    generator, calls, waits = generator_failing(5, max_attempts=3)
    attempts = [0]
    with pytest.raises(RetryError) as raised:
        await generator._send_with_backoff([("r1", "t")], None, attempts)
    assert raised.value.last_attempt.attempt_number == 3 and raised.value.last_attempt.exception() is UNAVAILABLE
    assert raised.value.__cause__ is UNAVAILABLE
    assert (attempts, len(calls), len(waits)) == ([3], 3, 3)  # AsyncRetrying computes the wait before the stop


@pytest.mark.parametrize("error", [errors.ClientError(400, {"error": {"code": 400}}), KeyError("bug"),
                                   asyncio.CancelledError()])
async def test_other_errors_are_raised_at_once(error):
    generator, calls, waits = generator_failing(1, error=error)
    with pytest.raises(type(error)):
        await generator._send_with_backoff([("r1", "t")], None, [0])
    assert (len(calls), waits) == (1, [])


async def test_answered_requests_leave_no_reference_cycles():
    """Each `async for attempt in AsyncRetrying(...)` left ~30 objects for the cyclic collector."""
    generator, _, _ = generator_failing(0)
    gc.collect()
    gc.disable()
    try:
        for _ in range(200):
            await generator._send_with_backoff([("r1", "t")], None, [0])
        assert gc.collect() < 50
    finally:
        gc.enable()
