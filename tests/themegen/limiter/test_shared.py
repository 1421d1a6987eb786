"""Shared Prefect limits against the stack's Prefect server: two "processes" share one decaying limit;
a request larger than a chunk; the limit parameters; check_config's check of a configured limit."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from pydantic import ValidationError

from tasks.check_config import check_config
from themegen.limiter.shared import (
    SharedRateLimit,
    SharedRateLimitError,
    default_chunk,
    limit_specs,
    rate_limit_params,
)
from themegen.settings import Settings

LIMIT = "test-shared-600rpm"


@pytest.fixture
async def limit_600rpm(stack):
    burst, decay = rate_limit_params(600, 0.01, default_chunk(600))  # 4 slots, 9.9/s
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
            await limiter.acquire()

    started = time.monotonic()
    await asyncio.gather(*(requests(limiter) for limiter in limiters))
    # The first `burst` slots are free at once, every further one needs 1/decay s of decay.
    assert time.monotonic() - started >= (2 * per_process - burst) / decay


async def test_a_request_larger_than_a_chunk_takes_several(stack):
    name = "test-shared-slow-decay"
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, limit=10, slot_decay_per_second=0.01)
        try:
            limiter = SharedRateLimit(name, chunk=2)
            await limiter.acquire(5)  # three chunks: one slot left over for the next request
            await limiter.acquire(1)  # that slot: no server call
            assert (await client.read_global_concurrency_limit_by_name(name)).active_slots == 6
        finally:
            await client.delete_global_concurrency_limit_by_name(name)


async def test_a_missing_limit_says_to_run_limits_apply(stack):
    expected = r"'no-such-limit'.*THEMEGEN_SHARED_RATE_LIMIT.*themegen limits apply"
    with pytest.raises(SharedRateLimitError, match=expected):
        await SharedRateLimit("no-such-limit", 1).acquire()


async def test_check_config_fails_on_a_missing_limit_before_any_llm_call(stack):
    stack.sim("reset", {})
    settings = Settings(shared_rate_limit="no-such-rpm-limit")
    with pytest.raises(SharedRateLimitError) as caught:
        await check_config.fn(settings)
    assert str(caught.value).startswith("THEMEGEN_SHARED_RATE_LIMIT='no-such-rpm-limit': the Prefect global "
                                        "concurrency limit 'no-such-rpm-limit' does not exist")
    assert "Run `themegen limits apply`" in str(caught.value)
    assert stack.sim("stats")["requests"] == 0


async def test_check_config_names_the_token_limit_setting_and_a_disabled_or_small_limit(limit_600rpm):
    settings = Settings(tpm=100_000, shared_token_limit="no-such-tpm-limit")
    with pytest.raises(SharedRateLimitError, match=r"^THEMEGEN_SHARED_TOKEN_LIMIT='no-such-tpm-limit'"):
        await check_config.fn(settings)

    burst, _ = limit_600rpm
    small = Settings(rpm=600, shared_rate_limit=LIMIT, shared_rate_limit_chunk=burst + 1)
    with pytest.raises(SharedRateLimitError, match=rf"has limit {burst}, below the chunk of {burst + 1}"):
        await check_config.fn(small)

    async with get_client() as client:
        await client.update_global_concurrency_limit(LIMIT, GlobalConcurrencyLimitUpdate(active=False))
    with pytest.raises(SharedRateLimitError, match=r"is inactive"):
        await check_config.fn(Settings(rpm=600, shared_rate_limit=LIMIT))


@pytest.mark.parametrize("quota", [2, 60, 600, 1000, 1200, 6000, 60_000, 1_000_000])
@pytest.mark.parametrize("headroom", [0.0, 0.005, 0.01, 0.1])
def test_a_minute_never_sees_more_than_the_quota(quota, headroom):
    chunk = default_chunk(quota)
    limit, decay = rate_limit_params(quota, headroom, chunk)
    assert limit + 60 * decay <= quota + 1e-9  # free slots plus a minute of decay
    assert limit >= chunk  # else the server refuses every chunk
    assert 60 * decay <= quota * (1 - headroom) + 1e-9
    if quota * headroom >= chunk:  # a chunk fits the headroom: then no slower than the target
        assert 60 * decay == pytest.approx(quota * (1 - headroom))


def test_a_larger_headroom_leaves_room_for_the_chunks_processes_hold():
    quota, processes = 1200, 3
    chunk = default_chunk(quota)
    limit, decay = rate_limit_params(quota, (processes + 2) / 240, chunk)
    assert limit + 60 * decay + processes * chunk <= quota


def test_a_chunk_as_large_as_the_quota_is_refused():
    with pytest.raises(ValueError, match="no room"):
        rate_limit_params(60, 0.01, 60)


def test_limit_specs_follow_the_settings():
    [rpm] = limit_specs(Settings(rpm=1200))
    assert (rpm.name, rpm.quota, rpm.unit, rpm.chunk, rpm.configured) == ("gemini-rpm", 1200, "RPM", 5, False)
    rpm, tpm = limit_specs(Settings(rpm=1200, shared_rate_limit="mine", shared_rate_limit_chunk=3,
                                    tpm=240_000, shared_token_limit="tokens"))
    assert (rpm.name, rpm.chunk, rpm.configured) == ("mine", 3, True)
    assert (tpm.setting, tpm.name, tpm.quota, tpm.chunk, tpm.configured) == (
        "THEMEGEN_SHARED_TOKEN_LIMIT", "tokens", 240_000, 1000, True)
    assert limit_specs(Settings(tpm=240_000))[1].name == "gemini-tpm"


def test_a_shared_token_limit_needs_tpm():
    with pytest.raises(ValidationError, match="shared_token_limit needs tpm"):
        Settings(shared_token_limit="gemini-tpm")
