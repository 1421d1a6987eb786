"""Which tier a run uses, and what each tier would cost and take (pure).

`auto` picks the cheapest tier whose expected completion fits the deadline. Among equally cheap
tiers, one that does not shed requests wins (batch over flex): a shed flex request is retried or
falls back to the standard price, a batch job is promised its turnaround.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from themegen.tiers import AUTO, TIERS, Tier

if TYPE_CHECKING:
    from themegen.config.settings import Settings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_deadline(text: str) -> float:
    """'90m' -> 5400.0 seconds; units s, m, h, d (pure). ValueError names THEMEGEN_DEADLINE."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"deadline={text!r} is not a duration: write a positive number and a unit, "
                         "e.g. 90m, 2h or 1d (set THEMEGEN_DEADLINE or the flow's deadline parameter)")
    return float(match.group(1)) * _UNIT_S[match.group(2).lower()]


class Workload(BaseModel):
    """What a run would send, as the estimate (or the run's plan) counts it."""

    calls: int = Field(ge=0)
    seconds_at_quota: float = Field(ge=0, description="calls / rpm (and tokens / tpm): the quota's lower bound")
    rpm: int = Field(ge=1)
    max_in_flight: int | None = Field(None, description="THEMEGEN_MAX_IN_FLIGHT when set; None = each tier's")


def in_flight(tier: Tier, rpm: int, max_in_flight: int | None = None) -> int:
    """Open requests a process holds on `tier`: the setting when given, else the tier's, grown to
    what `rpm` needs at the tier's latency up to its cap (pure)."""
    if max_in_flight is not None:
        return max_in_flight
    needed = math.ceil(rpm * tier.expected_latency_s / 60)
    return max(tier.max_in_flight, min(tier.in_flight_cap, needed))


def expected_seconds(tier: Tier, work: Workload) -> float:
    """How long the run's requests would take on `tier` (pure): an asynchronous job its promised
    turnaround; online, the slower of the quota and the in-flight cap at the tier's latency, plus
    the last request's latency."""
    if not tier.synchronous:
        return float(tier.turnaround_s or 0.0)
    if not work.calls:
        return 0.0
    open_requests = in_flight(tier, work.rpm, work.max_in_flight)
    by_latency = work.calls / open_requests * tier.expected_latency_s
    return max(work.seconds_at_quota, by_latency) + tier.expected_latency_s


class Choice(BaseModel):
    tier: Tier
    fits: bool = Field(description="expected completion within the deadline")
    expected_s: float
    why: str


def choose_tier(deadline_s: float, work: Workload, tiers: dict[str, Tier] = TIERS) -> Choice:
    """The cheapest tier expected to finish within `deadline_s`; if none fits, the fastest (pure)."""
    timed = [(tier, expected_seconds(tier, work)) for tier in tiers.values()]
    fitting = [(t, s) for t, s in timed if s <= deadline_s]
    if fitting:
        tier, seconds = min(fitting, key=lambda ts: (ts[0].price_factor, ts[0].best_effort, ts[1]))
        return Choice(tier=tier, fits=True, expected_s=seconds,
                      why=f"the cheapest tier expected within {_hours(deadline_s)} (expected: {_hours(seconds)})")
    tier, seconds = min(timed, key=lambda ts: (ts[1], ts[0].price_factor))
    return Choice(tier=tier, fits=False, expected_s=seconds,
                  why=f"no tier is expected within {_hours(deadline_s)}; the fastest takes {_hours(seconds)}")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.0f} min"


def workload_for(settings: Settings, rows: int, seconds_at_quota: float | None = None) -> Workload:
    """The workload of `rows` sendable rows under `settings` (quota time from calls / rpm unless given)."""
    calls = math.ceil(rows / settings.rows_per_request)
    return Workload(calls=calls, seconds_at_quota=60 * calls / settings.rpm if seconds_at_quota is None
                    else seconds_at_quota, rpm=settings.rpm, max_in_flight=settings.max_in_flight)


def resolve_tier(settings: Settings, work: Workload | None) -> Choice:
    """The tier this run uses: the one set, or for `auto` the choice for THEMEGEN_DEADLINE."""
    if settings.tier != AUTO:
        tier = TIERS[settings.tier]
        return Choice(tier=tier, fits=True, expected_s=expected_seconds(tier, work) if work else 0.0,
                      why="set by THEMEGEN_TIER or the flow's tier parameter")
    return choose_tier(time_left_s(settings, datetime.now(timezone.utc)), work)


def time_left_s(settings: Settings, now: datetime) -> float:
    """Seconds to the deadline: to a parent's moment when one was given (a later child run has less
    than the whole deadline), else the whole `deadline` (pure)."""
    if settings.deadline_at is not None:
        return max(0.0, (settings.deadline_at - now).total_seconds())
    return settings.deadline_s


def deadline_at(settings: Settings, started: datetime) -> datetime | None:
    """The run's deadline as a moment: given (a parent's), else `deadline` after the run started."""
    if settings.deadline_at is not None or settings.deadline_s is None:
        return settings.deadline_at
    return started + timedelta(seconds=settings.deadline_s)
