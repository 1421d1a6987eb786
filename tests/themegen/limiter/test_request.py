"""RequestLimiter in simulated time: the RPM and TPM quotas' sliding 60-s windows, AIMD, sharing."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import weakref

import pytest

from tests.themegen.limiter.virtual_time import VirtualClock, most_in_any_window, run_virtual
from themegen.limiter import request, throttle
from themegen.limiter.request import DECREASE, DECREASE_COOLDOWN_S, INCREASE_RPM_PER_ANSWER, request_limiter
from themegen.limiter.throttle import CATCH_UP, throttle_params
from themegen.config.settings import Settings

RPM = 1200


@pytest.fixture(autouse=True)
def fresh_paces(monkeypatch):
    """Every test starts from its own pacing state (process-wide, and per loop)."""
    monkeypatch.setattr(request, "_paces", {})
    monkeypatch.setattr(request, "_limiters", weakref.WeakKeyDictionary())


async def _simulated_run(settings: Settings, requests: int, workers: int, clock: VirtualClock,
                         tokens_of=lambda chars: 0) -> list[tuple[float, int]]:
    """`workers` coroutines acquire, "send" (recording the virtual time and the request's real input
    tokens) and wait a random 0.2-3 s latency before observing the answer; returns the sends."""
    limiter = request_limiter(settings)
    rng = random.Random(7)
    sends: list[tuple[float, int]] = []
    tickets = iter(range(requests))

    async def worker() -> None:
        for _ in tickets:
            chars = rng.randint(50, 2_000)
            await limiter.acquire(chars)
            sends.append((clock.now, tokens_of(chars)))
            await asyncio.sleep(rng.uniform(0.2, 3.0))
            limiter.observe(chars, tokens_of(chars))
            limiter.on_success()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return sends


def _rpm_run(monkeypatch) -> list[float]:
    clock = VirtualClock()
    sends = run_virtual(monkeypatch, _simulated_run(Settings(rpm=RPM), 3 * RPM, 100, clock), clock)
    return [t for t, _ in sends]


def test_no_60s_window_sees_more_than_the_rpm_yet_the_quota_is_used(monkeypatch):
    times = _rpm_run(monkeypatch)
    assert most_in_any_window(times) <= RPM
    # At the ceiling, not merely under it: 3 x RPM requests take about 3 minutes, less the headroom.
    target = RPM * (1 - Settings().quota_headroom)
    assert max(times) - min(times) <= 60 * (3 * RPM / target) + 1


def test_the_check_catches_a_limiter_without_its_minute_window(monkeypatch):
    # Deliberately broken: the waves alone run CATCH_UP above the target, so some 60-s
    # window must see more than the quota.
    monkeypatch.setattr(throttle, "MINUTE_S", 0.0)
    assert most_in_any_window(_rpm_run(monkeypatch)) > RPM


def test_no_60s_window_spends_more_than_the_tpm(monkeypatch):
    tpm = 60_000
    clock = VirtualClock()
    settings = Settings(rpm=600_000, tpm=tpm)  # requests are not the limit here, tokens are
    sends = run_virtual(monkeypatch, _simulated_run(settings, 1_500, 100, clock, lambda c: math.ceil(c / 4)), clock)
    times = [t for t, _ in sends]
    spent = [sum(n for t, n in sends if start <= t < start + 60) for start in times]
    assert max(spent) <= tpm
    # The estimate starts at one token per character and then learns ~1/4: later minutes use the quota.
    assert max(spent) >= 0.97 * tpm * (1 - settings.quota_headroom)


def test_aimd_slows_down_once_per_cooldown_and_recovers_up_to_the_target(monkeypatch):
    clock = VirtualClock()

    async def check() -> None:
        settings = Settings(rpm=6_000, tpm=600_000)
        limiter = request_limiter(settings)
        target = 6_000 * (1 - settings.quota_headroom)
        assert limiter.current_rpm == target

        limiter.on_rate_limited()
        limiter.on_rate_limited()  # the same overload, reported by another request: counted once
        assert limiter.current_rpm == pytest.approx(target * DECREASE)
        clock.now += DECREASE_COOLDOWN_S
        limiter.on_rate_limited()
        assert limiter.current_rpm == pytest.approx(target * DECREASE**2)
        pace = limiter._pace  # both the requests' and the tokens' pace; the 60-s windows stay at the target
        assert (pace.throttle.waves.rate_limit, pace.throttle.waves.period) == throttle_params(
            target * DECREASE**2 * CATCH_UP)
        tpm_target = 600_000 * (1 - settings.quota_headroom)
        assert pace.tokens.pace == pytest.approx(tpm_target * DECREASE**2 / 60)
        assert (pace.throttle.minute.rate_limit, pace.tokens.rate) == (int(target), tpm_target / 60)

        limiter.on_success()
        assert limiter.current_rpm == pytest.approx(target * DECREASE**2 + INCREASE_RPM_PER_ANSWER)
        for _ in range(10_000):
            limiter.on_success()
        assert limiter.current_rpm == target <= settings.rpm
        assert pace.throttle.waves.period == throttle_params(target * CATCH_UP)[1]

    run_virtual(monkeypatch, check(), clock)


def test_aimd_never_goes_below_a_tenth_of_the_target(monkeypatch):
    clock = VirtualClock()

    async def check() -> None:
        limiter = request_limiter(Settings(rpm=1_000, quota_headroom=0))
        for _ in range(100):
            limiter.on_rate_limited()
            clock.now += DECREASE_COOLDOWN_S
        assert limiter.current_rpm == pytest.approx(100)

    run_virtual(monkeypatch, check(), clock)


async def test_one_limiter_per_loop_and_one_pace_per_process():
    settings = Settings(rpm=6_000)
    here = request_limiter(settings)
    assert request_limiter(settings) is here
    assert request_limiter(Settings(rpm=3_000)) is not here

    async def other_loop_limiter():
        return request_limiter(settings)

    there = await asyncio.to_thread(asyncio.run, other_loop_limiter())
    assert there is not here
    there.on_rate_limited()  # a 429 seen on one loop slows the whole process
    assert here.current_rpm == there.current_rpm < 6_000 * (1 - settings.quota_headroom)


async def test_the_single_process_fallback_is_logged(caplog):
    logger = logging.getLogger("prefect.themegen.limiter")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            request_limiter(Settings(rpm=4_321, tpm=99_999))
    finally:
        logger.removeHandler(caplog.handler)
    # One line (seen once through our handler and, if Prefect lets it propagate, once through the root).
    [line] = {r.getMessage() for r in caplog.records}
    assert "THEMEGEN_SHARED_RATE_LIMIT and THEMEGEN_SHARED_TOKEN_LIMIT unset" in line
    assert "themegen limits apply" in line


def test_a_shard_paces_at_its_share_of_the_quota(monkeypatch):
    clock = VirtualClock()
    settings = Settings(rpm=RPM, quota_share=2)
    times = [t for t, _ in run_virtual(monkeypatch, _simulated_run(settings, RPM, 100, clock), clock)]
    assert most_in_any_window(times) <= RPM / 2  # two such shards together stay within the quota
    assert max(times) - min(times) >= 60 * 2 * (1 - settings.quota_headroom) - 1


async def test_requests_queued_behind_a_run_stop_leave_at_once_without_a_place_in_the_quota():
    class Stop:
        tripped = False

    stop = Stop()
    limiter = request_limiter(Settings(rpm=120))  # one request per 0.5 s
    queued = [asyncio.create_task(limiter.acquire(100, stop)) for _ in range(40)]  # 20 s of pacing
    await asyncio.sleep(0.6)
    stop.tripped = True
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*queued)
    assert asyncio.get_running_loop().time() - started < 1.5
    assert results.count(True) <= 4 and results.count(False) >= 36
