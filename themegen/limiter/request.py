"""RequestLimiter: everything a Gemini request waits for before it is sent, except the in-flight cap.

A request, in this order, takes
1. its estimated input tokens of this process's token budget, when settings.tpm is set (tokens.py);
2. one slot of this process's asyncio-throttle (throttle.py);
3. one slot of the shared RPM limit and its estimated input tokens of the shared TPM limit, when
   the settings name them (Prefect global limits, for several processes; shared.py), last: a
   shared slot is held for 60 s from the moment it is handed out, so that moment must be the send.
Before them, with THEMEGEN_RPD / THEMEGEN_TPD set, a request takes its place in the day's budget
(day.py); once that is spent the run stops as on a per-day refusal.
Steps 1 and 2 take turns (one FIFO lock per event loop): one waiter polls the throttle instead of
every open request polling it every millisecond, and requests leave in arrival order.

Targets. The process aims at (1 - quota_headroom) of rpm and tpm, 99.5% by default. The throttle's
minute window counts this process's sends exactly as Gemini counts its quota (a sliding 60 s), but
Gemini counts arrivals, and requests reach it with varying delays (event-loop lag, connection
set-up): a window full to exactly rpm here can hold rpm + 1 there. Against the simulator, no
headroom brought a 429 back at every minute boundary; 0.5% made them rare at a small cost in wall
time, and 1% only cost more time (README Benchmarks, "Numbers behind design choices"). 0.5% is
0.3 s of sending per minute. A shared Prefect limit holds the whole quota (shared.py): the
processes' pace keeps them below it, and it stops them beyond it.

AIMD. The quota may be smaller than configured, or shared with others, so 429s slow this process
down: x DECREASE on a per-minute 429, at most once per DECREASE_COOLDOWN_S, then
INCREASE_RPM_PER_ANSWER more per answer back up to the target. It moves the pace (the throttle's waves,
the token bucket's refill); the 60-s windows stay at the target (throttle.py says why). With a
shared Prefect limit it acts on this process only, so it bites once the process's pace falls below
its share of that limit.

The pacing state (throttle, token budget, AIMD, token estimate) is per process, like the quota it
protects: event loops of one process never add up to more than the target.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import Protocol

from prefect import runtime
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.logging.loggers import get_logger

from themegen.limiter.day import DayBudget
from themegen.limiter.shared import LimitSpec, SharedRateLimit, limit_specs
from themegen.limiter.throttle import RpmThrottle
from themegen.limiter.tokens import TokenBudget, TokenEstimate
from themegen.config.settings import Settings

# A 429 means requests sent over the last latency (a few seconds) are coming back rejected: they all
# tell of one overload, so one decrease per cooldown. 0.85 halves the rate within ~20 s of 429s if the
# quota really is lower.
DECREASE = 0.85
DECREASE_COOLDOWN_S = 5.0
# A process at r RPM gets about r answers a minute, so +0.3 RPM each regains 0.3 x r per minute:
# a decrease of 15% is recovered in about 30 s at any rate.
INCREASE_RPM_PER_ANSWER = 0.3
# Never below a tenth of the target: retries after RetryInfo pace themselves anyway, and recovering
# from the floor takes minutes.
MIN_FACTOR = 0.1
# Tokens the budget may save up: a quarter second's worth (its minute window keeps any 60 s within the target).
TOKEN_BURST_S = 0.25


class _Pace:
    """This process's pace for one (rpm, tpm) target; thread-safe, shared by its event loops."""

    def __init__(self, rpm: float, tpm: float | None) -> None:
        self.target_rpm, self.target_tpm = rpm, tpm
        self.rpm = rpm
        self.throttle = RpmThrottle(rpm)
        self.tokens = TokenBudget(tpm / 60, TOKEN_BURST_S) if tpm else None
        self.estimate = TokenEstimate()
        self._decreased_at = float("-inf")
        self._lock = threading.Lock()

    def on_rate_limited(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._decreased_at >= DECREASE_COOLDOWN_S:
                self._decreased_at = now
                self._set(max(self.target_rpm * MIN_FACTOR, self.rpm * DECREASE))

    def on_success(self) -> None:
        with self._lock:
            if self.rpm < self.target_rpm:
                self._set(min(self.target_rpm, self.rpm + INCREASE_RPM_PER_ANSWER))

    def _set(self, rpm: float) -> None:
        self.rpm = rpm
        self.throttle.set_pace(rpm)
        if self.tokens:  # a 429 may be the token quota's: slow both
            self.tokens.pace = self.target_tpm * rpm / self.target_rpm / 60


class Stop(Protocol):
    """Anything that says whether the run has stopped sending, and stops it for the day (domain/stop.py's RunStop)."""

    @property
    def tripped(self) -> bool: ...

    def trip_daily_quota(self, detail: object) -> None: ...


class RequestLimiter:
    """One per (event loop, settings); `request_limiter` makes it. See the module docstring."""

    def __init__(self, pace: _Pace, shared: tuple[LimitSpec, ...], day: DayBudget | None = None) -> None:
        self._pace = pace
        self._day = day
        by_unit = {spec.unit: SharedRateLimit(spec.name, spec.chunk, spec.setting) for spec in shared}
        self._shared_requests = by_unit.get("RPM")
        self._shared_tokens = by_unit.get("TPM")
        self._turn = asyncio.Lock()

    async def acquire(self, input_chars: int, stop: Stop | None = None) -> bool:
        """Wait until one request of about `input_chars` characters of prompt may be sent; False,
        without taking a place in the quota, once `stop` has tripped."""
        # Tokens are estimated at the head of each queue, not on arrival: the first max_in_flight
        # requests of a run arrive before any answer, and at one token per character they wasted a
        # noticeable share of a run's token budget (README Benchmarks).
        async with self._turn:
            # Checked at the head of the queue: after a run-wide stop the requests queued behind it
            # leave at once instead of each waiting its paced turn, which kept a stopped run's
            # process alive for as long as its queue took to drain (README Benchmarks).
            if stop is not None and stop.tripped:
                return False
            # Before any pacing: a request the day cannot afford must not wait for a slot first.
            if self._day is not None and not self._day.take(self._pace.estimate(input_chars)):
                if stop is not None:
                    stop.trip_daily_quota(self._day.spent())
                return False
            if self._pace.tokens:
                await self._pace.tokens.take(self._pace.estimate(input_chars))
            await self._pace.throttle.acquire()
        if self._shared_tokens:
            await self._shared_tokens.acquire(self._pace.estimate(input_chars))
        if self._shared_requests:
            await self._shared_requests.acquire()
        return True

    def observe(self, input_chars: int, input_tokens: int) -> None:
        """An answered request's real promptTokenCount, for the chars -> tokens estimate."""
        self._pace.estimate.observe(input_chars, input_tokens)

    def on_rate_limited(self) -> None:
        """A per-minute 429 came back: slow this process down (once per cooldown)."""
        self._pace.on_rate_limited()

    def on_success(self) -> None:
        """An answer came back: speed back up toward the target, never above it."""
        self._pace.on_success()

    @property
    def current_rpm(self) -> float:
        return self._pace.rpm


_paces: dict[tuple[float, float | None], _Pace] = {}
_days: dict[tuple[int | None, int | None, str, str | None], DayBudget] = {}
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, RequestLimiter]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def request_limiter(settings: Settings) -> RequestLimiter:
    """One per (event loop, relevant settings): every batch task on the loop shares it."""
    # A shard paces at its fair share, so no process takes the others' part of the quota and
    # shards rarely wait for the shared limit.
    keep = (1 - settings.quota_headroom) / settings.quota_share
    target = (settings.rpm * keep, settings.tpm * keep if settings.tpm else None)
    specs = limit_specs(settings)
    shared = tuple(spec for spec in specs if spec.configured)
    # The day's budget is counted, not paced: the whole share, no headroom.
    day = tuple(None if q is None else max(1, q // settings.quota_share) for q in (settings.rpd, settings.tpd))
    # One budget per flow run ("this run may use"): a continuation, or another run in this process, has its own.
    day_key = (*day, settings.quota_resets_at, str(runtime.flow_run.id) if runtime.flow_run.id else None)
    loop = asyncio.get_running_loop()
    with _lock:
        limiters = _limiters.setdefault(loop, {})
        if (target, shared, day_key) in limiters:
            return limiters[(target, shared, day_key)]
        if target not in _paces:
            _paces[target] = _Pace(*target)
        budget = None
        if day != (None, None):
            budget = _days.setdefault(day_key, DayBudget(*day_key[:3]))
        limiter = limiters[(target, shared, day_key)] = RequestLimiter(_paces[target], shared, budget)
    if local := [spec for spec in specs if not spec.configured]:
        _logger().info(
            "%s unset: this process alone keeps Gemini requests within %s (the single-process fallback). "
            "Processes sharing one quota need `themegen limits apply` and those settings.",
            " and ".join(spec.setting for spec in local),
            " and ".join(f"{spec.quota * keep:,.0f} {spec.unit}" for spec in local),
        )
    return limiter


def _logger():
    """The run's logger (its lines reach the Prefect UI), or Prefect's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("themegen.limiter")
