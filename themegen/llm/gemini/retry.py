"""Which LLM errors are worth another attempt, and how long to wait before it (pure)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx
from google.genai import errors
from tenacity import RetryCallState, wait_exponential_jitter

RETRYABLE_HTTP = {408, 429, 500, 502, 503, 504}
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError, asyncio.TimeoutError, OSError)
try:  # google-genai uses httpx2 when it is installed
    import httpx2

    TRANSPORT_ERRORS += (httpx2.TransportError,)
except ImportError:  # pragma: no cover - depends on the environment
    pass

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)s\s*$")


def _details(exc: errors.APIError) -> list[dict]:
    body = exc.details if isinstance(exc.details, dict) else {}
    inner = body.get("error", body)
    found = inner.get("details") if isinstance(inner, dict) else None
    return found if isinstance(found, list) else []


def retry_delay_s(exc: BaseException) -> float | None:
    """google.rpc.RetryInfo.retryDelay (or a Retry-After header) of a 429, in seconds."""
    if not isinstance(exc, errors.APIError):
        return None
    for detail in _details(exc):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    header = getattr(getattr(exc, "response", None), "headers", {}).get("retry-after")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def is_per_day_quota(exc: BaseException) -> bool:
    if not isinstance(exc, errors.APIError) or exc.code != 429:
        return False
    for detail in _details(exc):
        if str(detail.get("@type", "")).endswith("google.rpc.QuotaFailure"):
            for violation in detail.get("violations", []):
                if "perday" in str(violation.get("quotaId", "")).lower():
                    return True
    return False


def is_shed(exc: BaseException) -> bool:
    """A 429 that names no quota: a best-effort tier (flex) turning work away for lack of capacity,
    not our quota running out, so slowing our pace would not help."""
    if not isinstance(exc, errors.APIError) or exc.code != 429:
        return False
    return not any(str(d.get("@type", "")).endswith("google.rpc.QuotaFailure") for d in _details(exc))


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, errors.APIError):
        return exc.code in RETRYABLE_HTTP and not is_per_day_quota(exc)
    return isinstance(exc, TRANSPORT_ERRORS)


def backoff_wait(initial_s: float, max_s: float) -> Callable[[RetryCallState], float]:
    """A tenacity wait: the server-given delay when there is one (never less), else jittered
    exponential backoff from initial_s up to max_s (a tier's numbers: seconds online, minutes for
    a best-effort tier that sheds load)."""
    backoff = wait_exponential_jitter(initial=initial_s, max=max_s, jitter=min(1.0, initial_s))

    def wait(state: RetryCallState) -> float:
        grown = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_delay_s(exc) if exc else None
        if hinted is None:
            return grown
        return hinted + min(grown, 1.0)  # a little jitter so waiting rows do not return in lockstep

    return wait


wait_for = backoff_wait(0.5, 30)  # the standard tier's
