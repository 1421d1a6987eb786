"""In-process RPM pacing with asyncio-throttle, and the in-flight cap.

Two Throttlers per RPM target, both asyncio-throttle:
- `waves` paces and smooths: at most a quarter second's worth of requests starts at once
  (windows of about PERIOD_S), never a whole second's burst. Its rate is the current pace (AIMD
  moves it) times CATCH_UP, because a Throttler notices a freed slot only at its next poll (every
  1% of a wave): every wave starts a poll plus event-loop lag late, more so on a busy machine.
  CATCH_UP's 5% of a PERIOD_S wave absorbs up to ~12 ms of that per wave; shorter waves fell short
  of the target even with CATCH_UP (README Benchmarks).
- `minute` enforces Gemini's own rule at the target: at most that many starts in any 60-s window
  (Throttler(rpm, 60) is exactly that sliding window). It is asked last, so the time it records is
  the send time. Its lateness costs one poll per minute, not one per wave. While `waves` run ahead,
  the window fills ~3 s before each minute is over and sends pause until it slides. AIMD leaves it
  alone: cutting it would also stop all sending until the last minute's excess has aged out, ~10 s
  for one 429 that may only have been network jitter (a few such 429s cost a run a noticeable share
  of its time: README Benchmarks).

Throttlers hold only a deque of send times and no loop-bound primitives, so one pair can pace every
event loop of a process (Prefect may run async tasks on worker-thread loops).
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from asyncio_throttle import Throttler

PERIOD_S = 0.25
CATCH_UP = 1.05
MINUTE_S = 60.0
MINUTE_POLL_S = 0.01  # late by 5 ms a minute on average: 0.01%

_lock = threading.Lock()
_in_flight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def throttle_params(rpm: float) -> tuple[int, float]:
    """(requests, period_s) with requests/period == rpm/60 and period <= about PERIOD_S (pure).

    Below 240 RPM a window holds one request and lasts 60/rpm s (more than PERIOD_S)."""
    per_period = max(1, int(rpm * PERIOD_S / 60))
    return per_period, 60.0 * per_period / rpm


class RpmThrottle:
    """`await throttle.acquire()`: one request start within the target; `set_pace(rpm)` changes the
    pace at runtime (a Throttler reads its fields at every poll). Not loop-bound, see above."""

    def __init__(self, target_rpm: float) -> None:
        self.waves = Throttler(1)
        self.minute = Throttler(max(1, int(target_rpm)), period=MINUTE_S, retry_interval=MINUTE_POLL_S)
        self.set_pace(target_rpm)

    def set_pace(self, rpm: float) -> None:
        self.waves.rate_limit, self.waves.period = throttle_params(rpm * CATCH_UP)
        self.waves.retry_interval = self.waves.period / 100

    async def acquire(self) -> None:
        await self.waves.acquire()
        await self.minute.acquire()


def in_flight_gate(limit: int) -> asyncio.Semaphore:
    """Caps the requests one event loop has open. Without a cap, 50 batches x 100 rows put 5,000
    requests in flight; answers then wait behind each other in this process until the client-side
    timeout fires and the (already answered, already billed) request is sent again."""
    loop = asyncio.get_running_loop()
    with _lock:
        if loop not in _in_flight:
            _in_flight[loop] = asyncio.Semaphore(limit)
        return _in_flight[loop]
