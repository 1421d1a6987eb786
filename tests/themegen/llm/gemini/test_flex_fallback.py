"""Flex requests: shed ones back off without slowing the run; rows still unanswered when the deadline nears go
at the standard price (THEMEGEN_FLEX_FALLBACK),
counted apart so the run's cost prices them at the standard rate. The simulator says which tier each
request asked for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from local_stack.gemini_sim import SimConfig, running_simulator
from tests.themegen.llm.gemini.test_generator import TEXT, settings_for, stats
from themegen.pricing.cost import cost_usd, tier_cost_usd
from themegen.llm.gemini.generator import Answer, GeminiGenerator
from themegen.tiers import TIERS

MARGIN_S = TIERS["flex"].fallback_margin_s


def deadline_in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_shed_rows_are_sent_at_the_standard_price_once_the_deadline_is_near():
    # Every flex request is shed; 2 s later the deadline is within the margin, so the retries
    # (after flex's first backoff of 5 s or more) go at the standard price and are answered.
    async with running_simulator(SimConfig(flex_shed_rate_503=1.0, flex_latency_s=0.0)) as url:
        generator = GeminiGenerator(settings_for(url, tier="flex", deadline_at=deadline_in(MARGIN_S + 2)))
        answers = await asyncio.gather(*(generator.answer(f"r{i}", f"{TEXT} {i}", 0) for i in range(3)))
        counts = await stats(url)
    assert all(isinstance(a, Answer) for a in answers)
    assert counts["flex"]["requests"] == counts["flex"]["shed_503"] == 3 and counts["requests"] == 6
    usage = generator.usage
    assert usage.fallback_calls == 3 and usage.fallback_input_tokens == usage.input_tokens > 0
    # Priced at the standard rate: all the tokens of this generator went there.
    assert tier_cost_usd("gemini-2.5-flash", usage.input_tokens, usage.output_tokens, price_factor=0.5,
                         fallback_input_tokens=usage.fallback_input_tokens,
                         fallback_output_tokens=usage.fallback_output_tokens) == pytest.approx(
        cost_usd("gemini-2.5-flash", usage.input_tokens, usage.output_tokens))


@pytest.mark.parametrize(("fallback", "deadline_s"), [(False, 0.0), (True, MARGIN_S + 600), (True, None)])
async def test_flex_stays_flex_without_the_fallback_far_from_the_deadline_or_without_one(fallback, deadline_s):
    deadline = None if deadline_s is None else deadline_in(deadline_s)
    async with running_simulator(SimConfig(flex_latency_s=0.0)) as url:
        generator = GeminiGenerator(settings_for(url, tier="flex", flex_fallback=fallback, deadline_at=deadline))
        answer = await generator.answer("r1", TEXT, 0)
        counts = await stats(url)
    assert isinstance(answer, Answer)
    assert counts["flex"]["requests"] == counts["requests"] == 1 and generator.usage.fallback_calls == 0


async def test_shed_flex_requests_back_off_without_slowing_the_run():
    # A shed 429 names no quota: the request waits and tries again, the run's pace stays at its target.
    async with running_simulator(SimConfig(flex_shed_rate_429=1.0)) as url:
        generator = GeminiGenerator(settings_for(url, tier="flex", max_attempts=2, rpm=123_456))
        before = generator.limiter.current_rpm
        failure = await generator.answer("r1", TEXT, 0)
        counts = await stats(url)
    assert counts["flex"]["shed_429"] == 2 and failure.reason.value == "transient" and failure.attempts == 2
    assert generator.limiter.current_rpm == before
