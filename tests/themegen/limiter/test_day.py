"""The quota day: when it resets (midnight Pacific, daylight saving included) and what it lets a run send."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from themegen.limiter.day import DayBudget, next_reset, parse_reset, quota_day

PACIFIC = "00:00 America/Los_Angeles"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def test_the_day_resets_at_midnight_pacific_in_winter_and_summer():
    assert next_reset(utc(2026, 12, 7, 6, 45), PACIFIC) == utc(2026, 12, 7, 8, 0)  # PST: UTC-8
    assert next_reset(utc(2026, 12, 7, 8, 0), PACIFIC) == utc(2026, 12, 8, 8, 0)  # at the reset: the next one
    assert next_reset(utc(2026, 7, 1, 12, 0), PACIFIC) == utc(2026, 7, 2, 7, 0)  # PDT: UTC-7
    assert quota_day(utc(2026, 12, 7, 7, 59), PACIFIC) != quota_day(utc(2026, 12, 7, 8, 0), PACIFIC)
    assert next_reset(utc(2026, 12, 7, 6, 45), "13:30 UTC") == utc(2026, 12, 7, 13, 30)


def test_a_reset_that_is_not_a_time_and_zone_names_the_setting():
    for text in ("midnight", "25:00 UTC", "00:00 Mars/Olympus"):
        with pytest.raises(ValueError, match="THEMEGEN_QUOTA_RESETS_AT"):
            parse_reset(text)


def test_the_budget_lets_exactly_the_days_requests_and_tokens_through_and_renews_after_the_reset():
    budget = DayBudget(requests=3, tokens=None, resets_at=PACIFIC)
    now = utc(2026, 12, 7, 7, 0)
    assert [budget.take(10, now) for _ in range(5)] == [True, True, True, False, False]
    assert budget.take(10, utc(2026, 12, 7, 8, 0))  # the next day
    tokens = DayBudget(requests=None, tokens=25, resets_at=PACIFIC)
    assert [tokens.take(10, now) for _ in range(3)] == [True, True, False]
    assert tokens.take(5, now)  # a smaller request still fits
    assert "3 requests" in budget.spent() and "THEMEGEN_RPD" in budget.spent()
