"""auto picks the cheapest tier expected to finish within the deadline; deadlines parse or name
THEMEGEN_DEADLINE."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from themegen.config.settings import Settings
from themegen.tiers import TIERS, TierUnavailable, tier_named, usable
from themegen.tiers.choose import (Workload, choose_tier, expected_seconds, in_flight, parse_deadline, resolve_tier,
                                   time_left_s)

# 3,000 calls at 1,000 RPM: 3 minutes at the quota.
WORK = Workload(calls=3_000, seconds_at_quota=180.0, rpm=1_000)


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5_400), ("2h", 7_200), ("1d", 86_400), ("45s", 45),
                                               ("1.5h", 5_400), (" 2H ", 7_200)])
def test_deadlines_parse(text, seconds):
    assert parse_deadline(text) == seconds


@pytest.mark.parametrize("text", ["2 weeks", "soon", "0h", "-1d", "12", ""])
def test_a_bad_deadline_names_the_setting(text):
    with pytest.raises(ValidationError, match="THEMEGEN_DEADLINE"):
        Settings(tier="auto", deadline=text)


def test_auto_without_a_deadline_is_refused():
    with pytest.raises(ValidationError, match="THEMEGEN_DEADLINE"):
        Settings(tier="auto")


def test_every_tier_declares_its_price():
    assert {n: t.price_factor for n, t in TIERS.items()} == {"standard": 1.0, "flex": 0.5, "batch": 0.5}
    assert TIERS["batch"].turnaround_s == 24 * 3600 and not TIERS["batch"].synchronous


def test_a_one_day_deadline_picks_batch():
    choice = choose_tier(parse_deadline("1d"), WORK)
    assert (choice.tier.name, choice.fits) == ("batch", True)


def test_a_deadline_shorter_than_the_batch_turnaround_picks_flex_when_it_fits():
    choice = choose_tier(parse_deadline("2h"), WORK)
    assert (choice.tier.name, choice.fits) == ("flex", True)


def test_a_deadline_too_short_for_flex_picks_standard():
    # Flex requests take minutes each: 3 minutes at the quota plus the last request's 2.
    assert expected_seconds(TIERS["flex"], WORK) == 300 > parse_deadline("4m") > expected_seconds(TIERS["standard"], WORK)
    assert choose_tier(parse_deadline("4m"), WORK).tier.name == "standard"


def test_when_nothing_fits_the_fastest_tier_is_chosen_and_says_so():
    choice = choose_tier(parse_deadline("1m"), WORK)
    assert (choice.tier.name, choice.fits) == ("standard", False)
    assert "no tier is expected within" in choice.why


def test_a_big_job_at_a_small_quota_may_miss_every_online_tier_but_batch():
    big = Workload(calls=2_000_000, seconds_at_quota=2_000_000 / 1_000 * 60, rpm=1_000)  # 33 h at the quota
    assert choose_tier(parse_deadline("1d"), big).tier.name == "batch"


def test_flex_holds_enough_requests_open_for_its_latency_up_to_its_cap():
    assert in_flight(TIERS["flex"], rpm=600) == 1_200  # 10 requests/s x 120 s
    assert in_flight(TIERS["flex"], rpm=60_000) == TIERS["flex"].in_flight_cap
    assert in_flight(TIERS["standard"], rpm=60_000) == 256
    assert in_flight(TIERS["flex"], rpm=600, max_in_flight=64) == 64  # the setting wins


def test_a_set_tier_is_kept_and_auto_is_chosen():
    assert resolve_tier(Settings(tier="flex"), WORK).tier.name == "flex"
    assert resolve_tier(Settings(tier="auto", deadline="1d"), WORK).tier.name == "batch"


def test_every_tier_is_usable_and_one_declared_unavailable_says_what_to_use():
    assert [usable(tier_named(name)).name for name in ("standard", "flex", "batch")] == ["standard", "flex", "batch"]
    not_yet = tier_named("batch").model_copy(update={"available": "use standard or flex"})
    with pytest.raises(TierUnavailable, match="tier batch is not available yet: use standard or flex"):
        usable(not_yet)


def test_a_child_run_started_later_has_only_the_parents_time_left():
    parent_started = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
    settings = Settings(tier="auto", deadline="1d", deadline_at=parent_started + timedelta(days=1))
    # Started 23 hours after its parent: one hour left, not a day (batch's 24 h no longer fits).
    assert time_left_s(settings, parent_started + timedelta(hours=23)) == 3600
    assert time_left_s(Settings(tier="auto", deadline="1d"), parent_started) == 86400
