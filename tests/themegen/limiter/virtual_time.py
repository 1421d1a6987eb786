"""Run the limiter for minutes of simulated time in milliseconds of real time.

An event loop whose clock only moves when the loop would sleep: it jumps straight to the next timer.
The limiter's own clocks (asyncio-throttle's and ours, all `time.monotonic`) are pointed at the same
clock, per module, so nothing else in the test process sees virtual time.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from types import SimpleNamespace

import asyncio_throttle.throttler
import pytest

from themegen.limiter import request, tokens


class VirtualClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


class _Selector(selectors.DefaultSelector):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None):
        if timeout is None:
            raise RuntimeError("the virtual loop would wait forever: nothing is scheduled")
        self._clock.now += timeout
        return super().select(0)


class _Loop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_Selector(clock))
        self._clock = clock

    def time(self) -> float:
        return self._clock.now


def patch_clocks(monkeypatch: pytest.MonkeyPatch, clock: VirtualClock) -> None:
    fake = SimpleNamespace(monotonic=clock.monotonic)
    for module in (asyncio_throttle.throttler, tokens, request):
        monkeypatch.setattr(module, "time", fake)


def run_virtual(monkeypatch: pytest.MonkeyPatch, coro: Coroutine, clock: VirtualClock | None = None):
    """Run `coro` on a fresh virtual-time loop; returns its result."""
    clock = clock or VirtualClock()
    patch_clocks(monkeypatch, clock)
    loop = _Loop(clock)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def most_in_any_window(times: list[float], window_s: float = 60.0) -> int:
    """max over every t in `times` of how many of them fall in [t, t + window_s) (pure)."""
    times = sorted(times)
    best, end = 0, 0
    for start, t in enumerate(times):
        while end < len(times) and times[end] < t + window_s:
            end += 1
        best = max(best, end - start)
    return best
