"""The in-process token budget and the chars -> tokens estimate."""

from __future__ import annotations

import random

from tests.themegen.limiter.virtual_time import VirtualClock, run_virtual
from themegen.limiter.tokens import TokenBudget, TokenEstimate


def _grants(monkeypatch, rate: float, amounts: list[int]) -> list[tuple[float, int]]:
    """(virtual time, amount) of every grant of `amounts`, taken one after another (as RequestLimiter
    does: one request at a time takes its turn)."""
    clock = VirtualClock()
    grants: list[tuple[float, int]] = []

    async def run() -> None:
        budget = TokenBudget(rate, burst_s=0.25)
        for amount in amounts:
            await budget.take(amount)
            grants.append((clock.now, amount))

    run_virtual(monkeypatch, run(), clock)
    return grants


def _most_in_any_minute(grants: list[tuple[float, int]]) -> int:
    return max(sum(n for t, n in grants if start <= t < start + 60) for start, _ in grants)


def test_no_minute_gets_more_than_the_rate_yet_the_rate_is_used(monkeypatch):
    rng = random.Random(3)
    rate = 100.0  # 6,000 a minute; takes of up to 60 are larger than the 25 the bucket saves up
    grants = _grants(monkeypatch, rate, [rng.randint(1, 60) for _ in range(2_000)])
    assert _most_in_any_minute(grants) <= rate * 60
    span = grants[-1][0] - grants[0][0]
    # Not slower than the rate either, within the granularity of takes up to 1% of a minute's worth.
    assert sum(n for _, n in grants) >= 0.99 * rate * span


def test_a_large_request_waits_for_the_window_not_only_for_the_bucket(monkeypatch):
    # Small takes fill the minute at the bucket's pace, then one as large as 10 s of the rate comes.
    # The bucket alone would let it through with a debt: 6,000 + 1,000 in that minute.
    grants = _grants(monkeypatch, 100.0, [10] * 600 + [1_000])
    assert _most_in_any_minute(grants) <= 6_000
    assert grants[-1][0] - grants[0][0] >= 60  # it waited for the window to slide


def test_a_request_larger_than_a_minute_goes_alone(monkeypatch):
    grants = _grants(monkeypatch, 100.0, [10, 7_000, 10])
    assert [n for _, n in grants] == [10, 7_000, 10]
    assert grants[1][0] - grants[0][0] >= 60  # only once the window is empty


def test_the_estimate_starts_at_one_token_per_char_then_follows_the_answers():
    estimate = TokenEstimate()
    assert estimate(1_000) == 1_000
    estimate.observe(1_000, 300)
    estimate.observe(3_000, 700)
    assert estimate(1_000) == 250  # 1,000 tokens for 4,000 chars so far
    estimate.observe(0, 50)  # nothing to learn from an empty prompt
    estimate.observe(500, 0)  # or from an answer without usage metadata
    assert estimate(1_000) == 250
    assert estimate(1) == 1  # never zero
