"""Calls to the Prefect API that must never cost the run its work: progress and report artifacts.

When the Prefect server is down, the run goes on (batches write their own rows to Spanner); an
artifact that cannot be created is logged and skipped, and the run's numbers still reach the flow's
result, the CLI's summary and the final state's message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

log = logging.getLogger("themegen")
T = TypeVar("T")


async def best_effort(what: str, call: Callable[[], Awaitable[T]], attempts: int = 1) -> T | None:
    """`call()`, retried up to `attempts` times (Prefect's client already retries each request);
    None, with a warning, when it still fails."""
    try:
        async for attempt in AsyncRetrying(stop=stop_after_attempt(attempts), wait=wait_exponential(min=2, max=30),
                                           reraise=True):
            with attempt:
                return await call()
    except Exception as exc:  # noqa: BLE001 - whatever the API or its client raised
        log.warning("%s skipped: the Prefect API did not take it (%s: %s)", what, type(exc).__name__, exc)
    return None
