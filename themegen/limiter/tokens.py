"""A weighted in-process budget (input tokens per minute), and the chars -> tokens estimate it spends.

asyncio-throttle counts requests, not weights. aiolimiter has weights, but refuses an amount larger
than its capacity, has no public way to change its rate at runtime and warns when one instance is
used from a second event loop; this small budget does all three (AIMD rescales it; a lock makes it
thread-safe), with no new dependency.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque

from themegen.limiter.throttle import CATCH_UP, MINUTE_S


class TokenBudget:
    """`rate` tokens per second, checked twice, like the RPM throttle (throttle.py):

    - a token bucket paces and smooths: it refills at `pace` (AIMD moves it; the rate at first) times
      CATCH_UP, or every pause of the window below would be lost to it for good, and saves up at
      most `burst_s` seconds' worth. A request larger than that waits for a full bucket and leaves a
      debt the next ones wait out;
    - a sliding 60-s window caps what Gemini counts: at most rate x 60 tokens in any 60 s. The bucket
      alone would allow rate x 60 plus the largest request (a big one at the end of a full window
      borrows from the next), which can be more than the headroom.

    Thread-safe, but not fair: callers take turns (RequestLimiter holds a lock around `take`).
    """

    def __init__(self, rate: float, burst_s: float) -> None:
        self.burst_s = burst_s
        self.rate = self.pace = rate
        self._level = self.capacity
        self._stamp = time.monotonic()
        self._window: deque[tuple[float, int]] = deque()
        self._in_window = 0
        self._lock = threading.Lock()

    @property
    def capacity(self) -> float:
        return self.pace * self.burst_s

    @property
    def _refill(self) -> float:
        return self.pace * CATCH_UP

    async def take(self, amount: int) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._level = min(self.capacity, self._level + (now - self._stamp) * self._refill)
                self._stamp = now
                while self._window and self._window[0][0] <= now - MINUTE_S:
                    self._in_window -= self._window.popleft()[1]
                wait = max(self._bucket_wait(amount), self._window_wait(amount, now))
                if wait <= 0:
                    self._level -= amount
                    self._window.append((now, amount))
                    self._in_window += amount
                    return
            await asyncio.sleep(wait)

    def _bucket_wait(self, amount: int) -> float:
        missing = min(amount, self.capacity) - self._level
        return missing / self._refill if missing > 1e-6 else 0.0  # refills are float sums: no rounding waits

    def _window_wait(self, amount: int, now: float) -> float:
        """Until enough of the window has expired; a request larger than a minute's rate: until it is empty."""
        excess = self._in_window + amount - self.rate * MINUTE_S
        if excess <= 0 or not self._window:
            return 0.0
        for sent, tokens in self._window:
            excess -= tokens
            if excess <= 0:
                break
        return max(sent + MINUTE_S - now, 1e-6)  # at least a microsecond: the entry must be past, not at, 60 s


class TokenEstimate:
    """Input tokens of a request from its characters, before it is sent.

    Starts at one token per character, far above real text (~4 latin characters per token), so the
    first requests of a run cannot overspend; each answer's promptTokenCount then replaces it with
    the run's ratio so far: the sum of real tokens over the sum of characters sent, which also covers
    the instructions every request repeats.
    """

    def __init__(self) -> None:
        self.chars = 0
        self.tokens = 0

    def __call__(self, chars: int) -> int:
        ratio = self.tokens / self.chars if self.chars else 1.0
        return max(1, math.ceil(chars * ratio))

    def observe(self, chars: int, tokens: int) -> None:
        if chars > 0 and tokens > 0:
            self.chars += chars
            self.tokens += tokens
