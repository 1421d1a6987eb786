"""The in-process RPM throttle: its wave size, and the rate change AIMD relies on."""

from __future__ import annotations

import pytest

from tests.themegen.limiter.virtual_time import VirtualClock, run_virtual
from themegen.limiter.throttle import CATCH_UP, PERIOD_S, RpmThrottle, throttle_params


@pytest.mark.parametrize("rpm", [1, 59.4, 600, 1000, 5940, 60_000, 594_000])
def test_waves_keep_the_rate_and_are_a_quarter_second_at_most(rpm):
    per_wave, period = throttle_params(rpm)
    assert per_wave / period == pytest.approx(rpm / 60)
    assert per_wave == 1 or period <= PERIOD_S  # below 240 RPM a wave is one request


def test_a_new_pace_moves_the_waves_and_leaves_the_minute_cap_at_the_target():
    throttle = RpmThrottle(6_000)
    throttle.set_pace(3_000)
    assert (throttle.waves.rate_limit, throttle.waves.period) == throttle_params(3_000 * CATCH_UP)
    assert throttle.minute.rate_limit == 6_000


def test_a_cut_pace_takes_effect_at_once(monkeypatch):
    clock = VirtualClock()
    sends: list[float] = []

    async def run() -> None:
        throttle = RpmThrottle(6_000)
        for i in range(2_000):
            if i == 1_000:
                throttle.set_pace(3_000)
            await throttle.acquire()
            sends.append(clock.now)

    run_virtual(monkeypatch, run(), clock)
    before, after = sends[999] - sends[0], sends[1999] - sends[1000]
    assert after == pytest.approx(2 * before, rel=0.05)  # half the rate at once, not a minute later
    assert 60 * 999 / before == pytest.approx(6_000 * CATCH_UP, rel=0.03)
