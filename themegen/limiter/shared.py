"""One Gemini quota (RPM, and input TPM) shared by every process, through Prefect global limits.

The in-process pace (request.py) only knows its own process: three workers each paced to the quota
send three times the quota. With `THEMEGEN_SHARED_RATE_LIMIT=gemini-rpm` every request also takes
one slot of that limit, and with `THEMEGEN_SHARED_TOKEN_LIMIT=gemini-tpm` (and THEMEGEN_TPM) its
estimated input tokens of that one. `themegen limits apply` creates them; check_config fails a run
whose configured limit is missing, inactive or too small, before any LLM call.

A sliding 60-s window, as Gemini counts its quota. The limit holds `quota` slots and does not decay:
a process takes slots and gives each back WINDOW_S after the request that used it was sent. Every
slot used in a window [t, t + 60) is still taken at t + 60, so no 60-s window, across all processes,
sends more than the quota. The processes' own pace keeps them THEMEGEN_QUOTA_HEADROOM below it.

Why not Prefect's decaying `rate_limit` (slot_decay_per_second = quota / 60), which this module used
first: the server applies the decay only when the limit's row is updated, rounds it down at every
update, and a denied request updates the row without applying it, so under contention the decay
is lost. Two processes sharing a decaying limit were granted chunks far more slowly than the quota
allows and together reached only part of it (README Benchmarks); a process alone was not affected.

A server call costs a round trip, so a process takes `chunk` slots per call (one lease) and hands
them out as requests need them, one acquirer per event loop. A lease the process cannot give back
(it died) expires on the server after LEASE_S. Sent requests hold their slots until the process
releases them or the lease expires: at the end of a run the last minute's slots stay taken for up to
LEASE_S (plus the server's expiry pass), which only makes a following run start below the quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from themegen.config.settings import Settings

# Names `themegen limits apply` gives the limits when the settings name none.
RPM_LIMIT = "gemini-rpm"
TPM_LIMIT = "gemini-tpm"

WINDOW_S = 60.0  # Gemini counts per-minute quotas over a sliding 60 s
LEASE_S = 90.0  # the server frees a lease's slots after this if nobody releases them
# Hand out a chunk's slots only while it can still be released WINDOW_S after its last use
# before its lease expires; the rest of an older chunk is given up (idle processes only).
CHUNK_MAX_AGE_S = LEASE_S - WINDOW_S - 5.0
MAX_RETRY_AFTER_S = 5.0  # a denied chunk is asked again after the server's Retry-After, at most this


class SharedRateLimitError(RuntimeError):
    """A shared limit is missing or cannot grant a chunk; the message says what to run."""


@dataclass
class _Chunk:
    lease_id: UUID
    slots: int  # not yet handed out
    taken_at: float
    used_at: float = 0.0  # set when its first slot is handed out, right after it is taken


class SharedRateLimit:
    """`await limit.acquire(n)` waits for n slots of the Prefect limit `name`; see the module docstring.
    One per event loop: its lock and its pending releases belong to the loop. When the loop ends
    before a release is due, the lease expires on the server instead."""

    def __init__(self, name: str, chunk: int, setting: str = "THEMEGEN_SHARED_RATE_LIMIT") -> None:
        self.name = name
        self.chunk = chunk
        self.setting = setting
        self._open: deque[_Chunk] = deque()
        self._releases: set[asyncio.Task] = set()
        # Concurrent requests would otherwise each ask the server for a chunk and leave most unused.
        self._lock = asyncio.Lock()

    async def acquire(self, occupy: int = 1) -> None:
        """A request needing more than a chunk (a long text's tokens) takes several chunks."""
        async with self._lock:
            now = time.monotonic()
            while self._open and now - self._open[0].taken_at > CHUNK_MAX_AGE_S:
                self._retire(self._open.popleft())
            while sum(chunk.slots for chunk in self._open) < occupy:
                self._open.append(await self._take_chunk())
            self._hand_out(occupy, time.monotonic())

    def _hand_out(self, occupy: int, now: float) -> None:
        while occupy:
            chunk = self._open[0]
            used = min(occupy, chunk.slots)
            chunk.slots -= used
            chunk.used_at = now
            occupy -= used
            if not chunk.slots:
                self._retire(self._open.popleft())

    def _retire(self, chunk: _Chunk) -> None:
        """Give the chunk's slots back WINDOW_S after its last use."""
        task = asyncio.create_task(self._release(chunk.lease_id, chunk.used_at + WINDOW_S - time.monotonic()))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, lease_id: UUID, delay: float) -> None:
        await asyncio.sleep(delay)
        # A release that fails (server unreachable) only keeps the slots until the lease expires.
        with contextlib.suppress(httpx.HTTPError):
            async with get_client() as client:
                await client.release_concurrency_slots_with_lease(lease_id)

    async def _take_chunk(self) -> _Chunk:
        async with get_client() as client:
            while True:
                try:
                    response = await client.increment_concurrency_slots_with_lease(
                        names=[self.name], slots=self.chunk, mode="concurrency", lease_duration=LEASE_S
                    )
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 423:  # 422: the chunk is larger than the limit
                        raise self._error(f"HTTP {exc.response.status_code}") from None
                    # The window is full: the server says when slots are likely free again.
                    await asyncio.sleep(min(float(exc.response.headers.get("Retry-After", 0.1)), MAX_RETRY_AFTER_S))
                    continue
                body = response.json()
                if not body["limits"]:  # an unknown name is granted as "no limit": that must not pass
                    raise self._error("it does not exist")
                return _Chunk(UUID(body["lease_id"]), self.chunk, time.monotonic())

    def _error(self, problem: str) -> SharedRateLimitError:
        return SharedRateLimitError(
            f"cannot take {self.chunk} slots of the Prefect global concurrency limit {self.name!r} "
            f"({self.setting}): {problem}; it must exist with a limit of at least {self.chunk}. "
            f"Run `themegen limits apply` against this Prefect server with the same settings."
        )


def default_chunk(quota: int) -> int:
    """A quarter second's worth of a per-minute quota (pure)."""
    return max(1, quota // 240)


def window_params(quota: int, chunk: int) -> tuple[int, float]:
    """(limit, slot_decay_per_second) of the Prefect limit for a per-minute quota (pure): the quota's
    slots and no decay (the module docstring says why). The processes' own pace (request.py) keeps
    them quota_headroom below it, so cooperating shards are rarely refused a chunk."""
    if chunk > quota:
        raise ValueError(f"a chunk of {chunk} does not fit a quota of {quota} per minute")
    return quota, 0.0


@dataclass(frozen=True)
class LimitSpec:
    """One Prefect limit for one quota: what `limits apply` creates and the limiter takes slots of."""

    setting: str  # the variable naming the limit
    name: str
    quota: int  # per minute
    unit: str  # "RPM" or "TPM"
    chunk: int
    configured: bool  # the setting names it, so requests take its slots

    @property
    def params(self) -> tuple[int, float]:
        return window_params(self.quota, self.chunk)


def limit_specs(settings: Settings) -> list[LimitSpec]:
    """The RPM limit, and the TPM one when settings.tpm is set, by their configured or default names."""
    specs = [LimitSpec(
        setting="THEMEGEN_SHARED_RATE_LIMIT", name=settings.shared_rate_limit or RPM_LIMIT, quota=settings.rpm,
        unit="RPM", chunk=settings.shared_rate_limit_chunk or default_chunk(settings.rpm),
        configured=settings.shared_rate_limit is not None,
    )]
    if settings.tpm is not None:
        specs.append(LimitSpec(
            setting="THEMEGEN_SHARED_TOKEN_LIMIT", name=settings.shared_token_limit or TPM_LIMIT, quota=settings.tpm,
            unit="TPM", chunk=default_chunk(settings.tpm), configured=settings.shared_token_limit is not None,
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
                problem = _limit_problem(found.active, found.limit, found.slot_decay_per_second, spec.chunk)
            if problem:
                raise SharedRateLimitError(
                    f"{spec.setting}={spec.name!r}: the Prefect global concurrency limit {spec.name!r} {problem} "
                    f"on {client.api_url}. Run `themegen limits apply` against this Prefect server with the "
                    f"same settings."
                )


def _limit_problem(active: bool, limit: int, decay: float, chunk: int) -> str | None:
    """What keeps an existing limit from serving as the window (pure); the first problem found."""
    if not active:
        return "is inactive"
    if limit < chunk:
        return f"has limit {limit}, below the chunk of {chunk}"
    if decay:  # made by an older `limits apply`, or by hand
        return f"decays {decay:g} slots/s, so with the slots this run gives back it would let more than the quota through"
    return None
