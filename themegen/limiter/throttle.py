"""In-process smoothing of LLM requests with asyncio-throttle.

One throttle per (process, rpm) is shared by every batch task of the process: Prefect runs mapped
async tasks in worker threads with their own event loops, and asyncio-throttle's Throttler keeps
only a deque of send times (no loop-bound primitives), so one instance can serve them all.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from asyncio_throttle import Throttler

_throttles: dict[int, Throttler] = {}
_lock = threading.Lock()
_in_flight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def throttle_params(rpm: int) -> tuple[int, float]:
    """(requests, period_s) with requests/period == rpm/60 and small bursts (pure)."""
    per_period = max(1, rpm // 60)  # at most ~1 s worth of requests in one burst
    return per_period, 60.0 * per_period / rpm


def process_throttle(rpm: int) -> Throttler:
    with _lock:
        if rpm not in _throttles:
            count, period = throttle_params(rpm)
            _throttles[rpm] = Throttler(rate_limit=count, period=period, retry_interval=0.005)
        return _throttles[rpm]


def in_flight_gate(limit: int) -> asyncio.Semaphore:
    """Caps the requests one event loop has open. Without a cap, 50 batches x 100 rows put 5,000
    requests in flight; answers then wait behind each other in this process until the client-side
    timeout fires and the (already answered, already billed) request is sent again."""
    loop = asyncio.get_running_loop()
    with _lock:
        if loop not in _in_flight:
            _in_flight[loop] = asyncio.Semaphore(limit)
        return _in_flight[loop]
