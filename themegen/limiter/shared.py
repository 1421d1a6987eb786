"""One Gemini RPM quota shared by every process, through a Prefect global concurrency limit.

The in-process throttle (throttle.py) only knows its own process: three workers each throttled to
the quota send three times the quota. With `THEMEGEN_SHARED_RATE_LIMIT=gemini-rpm` every request
also takes one slot of that limit, whose slots decay at RPM/60 per second on the Prefect server, so
all processes together stay within it.

A `rate_limit` call costs a server round trip (~63 ms) and Prefect serialises them per process, so a
process takes `chunk` slots per call and hands them out one per request. Slots taken but not yet
used are at most one chunk per event loop, a quarter second's worth by default.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Protocol

from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError, rate_limit

from themegen.settings import Settings


class SharedRateLimitError(RuntimeError):
    """The shared limit is missing or cannot grant a chunk; the message says what to run."""


class RequestGate(Protocol):
    async def __aenter__(self) -> None: ...
    async def __aexit__(self, *exc: object) -> None: ...


class NoSharedLimit:
    """The single-process fallback: the in-process throttle alone paces requests."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


class SharedRateLimit:
    """`async with limit:` waits for one slot of the Prefect limit `name` (one per request)."""

    def __init__(self, name: str, chunk: int) -> None:
        self.name = name
        self.chunk = chunk
        self._slots = 0
        # One acquirer per event loop: concurrent requests would otherwise each ask the server for
        # a chunk and leave most of them unused.
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> None:
        async with self._lock:
            if self._slots == 0:
                await self._take_chunk()
            self._slots -= 1

    async def __aexit__(self, *exc: object) -> None:
        return None  # rate-limit slots are not released: they decay on the server

    async def _take_chunk(self) -> None:
        try:
            # strict: a missing limit would otherwise be skipped with a warning, i.e. no limit at all.
            await rate_limit(self.name, occupy=self.chunk, strict=True)
        except ConcurrencySlotAcquisitionError as exc:
            raise SharedRateLimitError(
                f"cannot take {self.chunk} slots of the Prefect global concurrency limit {self.name!r} "
                f"(THEMEGEN_SHARED_RATE_LIMIT): it is missing, or its limit is below the chunk size "
                f"(THEMEGEN_SHARED_RATE_LIMIT_CHUNK). Run `themegen setup` against this Prefect server "
                f"with the same THEMEGEN_RPM. ({exc})"
            ) from None
        self._slots = self.chunk


def default_chunk(rpm: int) -> int:
    """A quarter second's worth of requests (pure); at most the limit's burst of rpm/60 that setup sets."""
    return max(1, rpm // 240)


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], SharedRateLimit]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def shared_gate(settings: Settings) -> RequestGate:
    """The gate for this event loop: shared by every batch on it, so they draw from one chunk."""
    if settings.shared_rate_limit is None:
        return NoSharedLimit()
    key = (settings.shared_rate_limit, settings.shared_rate_limit_chunk or default_chunk(settings.rpm))
    loop = asyncio.get_running_loop()
    with _lock:
        gates = _gates.setdefault(loop, {})
        if key not in gates:
            gates[key] = SharedRateLimit(*key)
        return gates[key]
