"""A sink's call retried until the sink's deadline, then one error that names the sink (every adapter).

A dead database must never hang a run: each attempt gets what is left of the deadline, and an
attempt that overruns it is abandoned rather than awaited (a driver may still wait on the dead peer
while it cleans up; the adapters' writes are idempotent, so a late success is harmless). Which
errors are worth another attempt is the adapter's business.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from themegen.domain.errors import tidy
from themegen.sink import SinkUnavailable

T = TypeVar("T")


async def within_deadline(
    attempt: Callable[[], Awaitable[T]],
    *,
    deadline_s: float,
    transient: tuple[type[BaseException], ...],
    description: str,
    deadline_setting: str,
    local_start: str = "themegen stack up",
) -> T:
    """`attempt()` until it succeeds, raises a non-transient error, or `deadline_s` has passed; then
    SinkUnavailable naming the sink (`description`), the setting that sets the deadline and how the
    local stack starts it (`local_start`)."""
    ends = time.monotonic() + deadline_s
    backoff = wait_exponential_jitter(initial=0.5, max=10)
    try:
        # A wait never runs past the deadline, so the last attempt starts at it at the latest and the
        # error comes within the deadline (plus that attempt's minimum second).
        async for retrying in AsyncRetrying(retry=retry_if_exception_type((*transient, TimeoutError)),
                                            stop=stop_after_delay(deadline_s),
                                            wait=lambda state: min(backoff(state), max(0.0, ends - time.monotonic()))):
            with retrying:
                return await _bounded(attempt(), max(1.0, ends - time.monotonic()))
    except RetryError as exc:
        last = exc.last_attempt.exception()
        detail = tidy((getattr(last, "message", None) or str(last) or "no answer within the deadline").splitlines()[0])
        raise SinkUnavailable(
            f"{description} did not answer for {deadline_s:g} s ({type(last).__name__}: {detail[:200]}). "
            f"Check that it is up and reachable (locally: `{local_start}`), or raise {deadline_setting}; "
            "answered rows are in the row cache, so a retry of this flow run writes them without calling Gemini"
        ) from None
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


async def _bounded(awaitable: Awaitable[T], timeout_s: float) -> T:
    """The awaitable's result, or TimeoutError after `timeout_s` without waiting for its clean-up."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_forget)
        raise TimeoutError(f"no answer within {timeout_s:.0f} s")
    return task.result()


def _forget(task: asyncio.Task) -> None:
    """Retrieve an abandoned attempt's outcome, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()
