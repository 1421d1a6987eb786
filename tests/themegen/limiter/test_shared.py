"""Shared Prefect limits against the stack's Prefect server: two "processes" share one window limit
and never exceed it in any window; slots come back one window after their last use; a request larger
than a chunk; the limit parameters; check_config's check of a configured limit.

WINDOW_S is shortened for the tests (Gemini's 60 s would make them minutes long); the server's
lease lasts its usual LEASE_S either way."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from pydantic import ValidationError

from tasks.check_config import check_config
from themegen.limiter import shared
from themegen.limiter.shared import (
    SharedRateLimit,
    SharedRateLimitError,
    default_chunk,
    limit_specs,
    window_params,
)
from themegen.config.settings import Settings

LIMIT = "test-shared-window"
WINDOW_S = 1.0


@pytest.fixture
def short_window(monkeypatch):
    monkeypatch.setattr(shared, "WINDOW_S", WINDOW_S)


async def _window_limit(name: str, limit: int) -> None:
    quota, decay = window_params(limit, 1)
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, limit=quota, slot_decay_per_second=decay)


@pytest.fixture
async def limit_of_10(stack, short_window):
    await _window_limit(LIMIT, 10)
    yield 10
    async with get_client() as client:
        await client.delete_global_concurrency_limit_by_name(LIMIT)


async def _active_slots(name: str) -> int:
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(name)).active_slots


async def test_two_processes_together_never_exceed_the_limit_in_any_window(limit_of_10, monkeypatch):
    window = 3.0  # long enough that 11 requests fit in one when nothing holds the slots
    monkeypatch.setattr(shared, "WINDOW_S", window)
    limiters = [SharedRateLimit(LIMIT, chunk=2), SharedRateLimit(LIMIT, chunk=2)]
    sent: list[float] = []

    async def requests(limiter: SharedRateLimit) -> None:
        for _ in range(12):
            await limiter.acquire()
            sent.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(*(requests(limiter) for limiter in limiters)), timeout=30)
    sent.sort()
    # 24 requests against 10 per window: at least two windows' wait, and no window holds more than 10.
    assert sent[-1] - sent[0] >= 2 * window
    assert max(sum(start <= t < start + window for t in sent) for start in sent) <= 10


async def test_slots_come_back_one_window_after_their_last_use(limit_of_10):
    limiter = SharedRateLimit(LIMIT, chunk=2)
    await limiter.acquire(5)  # three chunks: one slot left over for the next request
    await limiter.acquire(1)  # that slot: no server call
    assert await _active_slots(LIMIT) == 6
    await asyncio.sleep(WINDOW_S / 2)
    assert await _active_slots(LIMIT) == 6  # still inside the window
    await asyncio.sleep(WINDOW_S)
    assert await _active_slots(LIMIT) == 0


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


async def test_check_config_names_the_token_limit_setting_and_a_disabled_small_or_decaying_limit(limit_of_10):
    settings = Settings(tpm=100_000, shared_token_limit="no-such-tpm-limit")
    with pytest.raises(SharedRateLimitError, match=r"^THEMEGEN_SHARED_TOKEN_LIMIT='no-such-tpm-limit'"):
        await check_config.fn(settings)

    small = Settings(rpm=600, shared_rate_limit=LIMIT, shared_rate_limit_chunk=limit_of_10 + 1)
    with pytest.raises(SharedRateLimitError, match=r"has limit 10, below the chunk of 11"):
        await check_config.fn(small)

    async with get_client() as client:  # a decaying limit, as an older `limits apply` made them
        await client.update_global_concurrency_limit(LIMIT, GlobalConcurrencyLimitUpdate(slot_decay_per_second=9.9))
    with pytest.raises(SharedRateLimitError, match=r"decays 9.9 slots/s.*themegen limits apply"):
        await check_config.fn(Settings(rpm=600, shared_rate_limit=LIMIT))

    async with get_client() as client:
        await client.update_global_concurrency_limit(LIMIT, GlobalConcurrencyLimitUpdate(active=False))
    with pytest.raises(SharedRateLimitError, match=r"is inactive"):
        await check_config.fn(Settings(rpm=600, shared_rate_limit=LIMIT))


def test_the_limit_holds_one_minute_of_quota_and_does_not_decay():
    assert window_params(6000, default_chunk(6000)) == (6000, 0.0)
    assert default_chunk(6000) == 25  # a quarter second's worth


def test_a_chunk_larger_than_the_quota_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        window_params(60, 61)


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
