"""One Gemini quota (RPM, and input TPM) shared by every process, through Prefect global limits.

The in-process pace (request.py) only knows its own process: three workers each paced to the quota
send three times the quota. With `THEMEGEN_SHARED_RATE_LIMIT=gemini-rpm` every request also takes
one slot of that limit, and with `THEMEGEN_SHARED_TOKEN_LIMIT=gemini-tpm` (and THEMEGEN_TPM) its
estimated input tokens of that one; slots decay on the Prefect server at the quota's pace
(`rate_limit_params`), so all processes together stay within it. `themegen limits apply` creates
them; check_config fails a run whose configured limit is missing, before any LLM call.

A `rate_limit` call costs a server round trip (~63 ms) and Prefect serialises them per process, so a
process takes `chunk` slots per call and hands them out as requests need them. Slots taken but not
yet used are at most one chunk per limit and event loop, a quarter second's worth by default.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError, rate_limit
from prefect.exceptions import ObjectNotFound

from themegen.settings import Settings

# Names `themegen limits apply` gives the limits when the settings name none.
RPM_LIMIT = "gemini-rpm"
TPM_LIMIT = "gemini-tpm"


class SharedRateLimitError(RuntimeError):
    """A shared limit is missing or cannot grant a chunk; the message says what to run."""


class SharedRateLimit:
    """`await limit.acquire(n)` waits for n slots of the Prefect limit `name`."""

    def __init__(self, name: str, chunk: int, setting: str = "THEMEGEN_SHARED_RATE_LIMIT") -> None:
        self.name = name
        self.chunk = chunk
        self.setting = setting
        self._slots = 0
        # One acquirer per event loop: concurrent requests would otherwise each ask the server for
        # a chunk and leave most of them unused.
        self._lock = asyncio.Lock()

    async def acquire(self, occupy: int = 1) -> None:
        """Rate-limit slots are never released: they decay on the server. A request needing more
        than a chunk (a long text's tokens) takes several chunks, each within the limit's burst."""
        async with self._lock:
            while self._slots < occupy:
                await self._take_chunk()
            self._slots -= occupy

    async def _take_chunk(self) -> None:
        try:
            # strict: a missing limit would otherwise be skipped with a warning, i.e. no limit at all.
            await rate_limit(self.name, occupy=self.chunk, strict=True)
        except ConcurrencySlotAcquisitionError as exc:
            raise SharedRateLimitError(
                f"cannot take {self.chunk} slots of the Prefect global concurrency limit {self.name!r} "
                f"({self.setting}): it is missing, or its limit is below the chunk size. "
                f"Run `themegen limits apply` against this Prefect server with the same settings. ({exc})"
            ) from None
        self._slots += self.chunk


def default_chunk(quota: int) -> int:
    """A quarter second's worth of a per-minute quota (pure); fits the burst `rate_limit_params` sets."""
    return max(1, quota // 240)


def rate_limit_params(quota: int, headroom: float, chunk: int) -> tuple[int, float]:
    """(limit, slot_decay_per_second) of the Prefect limit for a per-minute quota (pure).

    A limit with slot decay grants at most limit + 60 x decay slots in any 60-s window (its free
    slots, then what decays), and Gemini counts its quota over exactly such a sliding window, so the
    burst (limit) comes out of the headroom: decay is the target, quota x (1 - headroom) / 60, and
    the limit what the headroom leaves, at least one chunk (the server must be able to grant one)
    and at most two (so a raised headroom also covers the slots processes hold: below). With
    limit = quota a whole minute's quota could start at once and the decay grant another over the
    next 60 s: twice the quota in one window.

    Each process may also hold up to one chunk it took before a window and uses inside it. For P
    processes the strict bound is quota x (1 - headroom) + (P + 2) chunks, within the quota when
    headroom >= (P + 2)/240 with the default chunk (2.1% for three processes); the default 0.5%
    leaves P chunks (P quarter seconds' worth) of possible excess, for AIMD and RetryInfo to absorb.
    """
    limit = max(chunk, min(2 * chunk, int(quota * headroom)))
    decay = min(quota * (1 - headroom), quota - limit) / 60
    if decay <= 0:
        raise ValueError(f"a chunk of {chunk} leaves no room in a quota of {quota} per minute")
    return limit, decay


@dataclass(frozen=True)
class LimitSpec:
    """One Prefect limit for one quota: what `limits apply` creates and the limiter takes slots of."""

    setting: str  # the variable naming the limit
    name: str
    quota: int  # per minute
    unit: str  # "RPM" or "TPM"
    chunk: int
    headroom: float
    configured: bool  # the setting names it, so requests take its slots

    @property
    def params(self) -> tuple[int, float]:
        return rate_limit_params(self.quota, self.headroom, self.chunk)


def limit_specs(settings: Settings) -> list[LimitSpec]:
    """The RPM limit, and the TPM one when settings.tpm is set, by their configured or default names."""
    specs = [LimitSpec(
        setting="THEMEGEN_SHARED_RATE_LIMIT", name=settings.shared_rate_limit or RPM_LIMIT, quota=settings.rpm,
        unit="RPM", chunk=settings.shared_rate_limit_chunk or default_chunk(settings.rpm),
        headroom=settings.quota_headroom, configured=settings.shared_rate_limit is not None,
    )]
    if settings.tpm is not None:
        specs.append(LimitSpec(
            setting="THEMEGEN_SHARED_TOKEN_LIMIT", name=settings.shared_token_limit or TPM_LIMIT, quota=settings.tpm,
            unit="TPM", chunk=default_chunk(settings.tpm), headroom=settings.quota_headroom,
            configured=settings.shared_token_limit is not None,
        ))
    return specs


async def check_shared_limits(settings: Settings) -> None:
    """Every limit the settings name exists, is active and can grant a chunk (before any LLM call)."""
    configured = [spec for spec in limit_specs(settings) if spec.configured]
    if not configured:
        return
    async with get_client() as client:
        for spec in configured:
            try:
                found = await client.read_global_concurrency_limit_by_name(spec.name)
            except ObjectNotFound:
                problem = "does not exist"
            else:
                problem = "is inactive" if not found.active else None
                if found.limit < spec.chunk:
                    problem = f"has limit {found.limit}, below the chunk of {spec.chunk}"
            if problem:
                raise SharedRateLimitError(
                    f"{spec.setting}={spec.name!r}: the Prefect global concurrency limit {spec.name!r} {problem} "
                    f"on {client.api_url}. Run `themegen limits apply` against this Prefect server with the "
                    f"same settings."
                )
