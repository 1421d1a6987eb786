"""The quota day: a run never sends more requests (or input tokens) in one day than the day allows.

Gemini's per-day quotas (requests per day on the lower tiers) reset at midnight Pacific time, not
24 hours after a request. With THEMEGEN_RPD (and THEMEGEN_TPD) set, every request takes one request
(and its estimated input tokens) of the day's budget before it is sent; once the budget is spent the
run stops sending, exactly as on a per-day refusal (themegen/domain/stop.py), and schedules its own
continuation at the reset (tasks/schedule_continuation.py). A refusal is still handled the same way:
the budget counts this run's requests only, and the project may have spent some of the day before.

One budget per process and quota day, shared by every batch and event loop of the run; a shard of a
sharded run takes its share (quota_share), as it does of the per-minute quota.
"""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RESET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s+(\S+)\s*$")


def parse_reset(text: str) -> tuple[time, ZoneInfo]:
    """'00:00 America/Los_Angeles' -> (time, zone); ValueError naming the setting otherwise (pure)."""
    match = _RESET.match(text)
    try:
        if not match:
            raise ValueError
        at, zone = time(int(match[1]), int(match[2])), ZoneInfo(match[3])
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"THEMEGEN_QUOTA_RESETS_AT={text!r}: write HH:MM and an IANA time zone, e.g. "
                         "'00:00 America/Los_Angeles' (the Gemini API's daily quotas reset at midnight Pacific)") from None
    return at, zone


def quota_day(now: datetime, resets_at: str) -> date:
    """The quota day `now` falls in (pure): the date of its last reset in the reset's zone."""
    at, zone = parse_reset(resets_at)
    local = now.astimezone(zone)
    day = local.date()
    return day if local.time() >= at else day - timedelta(days=1)


def next_reset(now: datetime, resets_at: str) -> datetime:
    """The first reset after `now`, in UTC (pure; a daylight-saving day is 23 or 25 hours long)."""
    at, zone = parse_reset(resets_at)
    day = quota_day(now, resets_at) + timedelta(days=1)
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


class DayBudget:
    """Requests and input tokens this process may still send in the current quota day (thread-safe)."""

    def __init__(self, requests: int | None, tokens: int | None, resets_at: str) -> None:
        self.requests, self.tokens, self.resets_at = requests, tokens, resets_at
        self._day: date | None = None
        self._used_requests = self._used_tokens = 0
        self._lock = threading.Lock()

    def take(self, tokens: int, now: datetime | None = None) -> bool:
        """Take one request of `tokens` estimated input tokens; False (taking nothing) once the day is spent."""
        day = quota_day(now or datetime.now(timezone.utc), self.resets_at)
        with self._lock:
            if day != self._day:  # a run that crosses the reset starts the new day's budget
                self._day, self._used_requests, self._used_tokens = day, 0, 0
            if self.requests is not None and self._used_requests + 1 > self.requests:
                return False
            if self.tokens is not None and self._used_tokens + tokens > self.tokens:
                return False
            self._used_requests += 1
            self._used_tokens += tokens
            return True

    def spent(self) -> str:
        """What ran out, for the run's stop message."""
        parts = [f"{self.requests:,} requests" if self.requests is not None else "",
                 f"{self.tokens:,} input tokens" if self.tokens is not None else ""]
        return f"this run's budget for the day ({' / '.join(p for p in parts if p)}, THEMEGEN_RPD / THEMEGEN_TPD) is spent"
