"""SharedRateLimit against the stack's Prefect server: two "processes" share one decaying limit."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect.client.orchestration import get_client

from themegen.limiter.shared import SharedRateLimit, SharedRateLimitError, default_chunk
from themegen.setup import rate_limit_params

LIMIT = "test-shared-600rpm"


@pytest.fixture
async def limit_600rpm(stack):
    burst, decay = rate_limit_params(600)  # 10 slots, 10/s
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(LIMIT, limit=burst, slot_decay_per_second=decay)
    yield burst, decay
    async with get_client() as client:
        await client.delete_global_concurrency_limit_by_name(LIMIT)


async def test_two_limiters_together_stay_within_the_decay(limit_600rpm):
    burst, decay = limit_600rpm
    per_process, chunk = 20, default_chunk(600)
    limiters = [SharedRateLimit(LIMIT, chunk), SharedRateLimit(LIMIT, chunk)]

    async def requests(limiter: SharedRateLimit) -> None:
        for _ in range(per_process):
            async with limiter:
                pass

    started = time.monotonic()
    await asyncio.gather(*(requests(limiter) for limiter in limiters))
    # The first `burst` slots are free at once, every further one needs 1/decay s of decay.
    assert time.monotonic() - started >= (2 * per_process - burst) / decay


async def test_a_missing_limit_says_to_run_setup(stack):
    with pytest.raises(SharedRateLimitError, match=r"'no-such-limit'.*themegen setup"):
        async with SharedRateLimit("no-such-limit", 1):
            pass


def test_a_minute_never_sees_much_more_than_the_quota():
    for rpm in (60, 1000, 1200, 60_000):
        burst, decay = rate_limit_params(rpm)
        assert burst + 60 * decay <= rpm * (1 + 1 / 60)
        assert default_chunk(rpm) <= burst  # a chunk must fit in the burst, else the server refuses it
