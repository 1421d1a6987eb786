"""The pre-run estimate against the local stack: rows, tokens and USD versus what a real run reports."""

from __future__ import annotations

from datetime import datetime

import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

import themegen.pricing.estimate as estimate_module
from flows.generate_themes import generate_themes
from local_stack.sample_data import generate_rows
from tests.conftest import SEED_ROWS
from tests.flows.helpers import source_rows
from themegen.pricing.cost import cost_usd
from themegen.pricing.estimate import approx_tokens, child_runs, estimate, format_estimate
from themegen.pricing.estimate_record import VARIABLE, save_estimate
from tests.flows.test_bad_input import report_markdown
from themegen.config.settings import Settings

SAMPLE = 100  # a third of the 300 seeded rows, so scaling the sample up is really exercised


async def made_at() -> str:
    from prefect.variables import Variable

    return datetime.fromisoformat((await Variable.aget(VARIABLE))["made_at"]).strftime("%Y-%m-%d %H:%M UTC")


def within(estimated: float, actual: float, tolerance: float = 0.10) -> bool:
    return abs(estimated - actual) <= tolerance * actual


@pytest.fixture
def sim(stack):
    """The stack with the simulator as `stack up` configured it (an earlier test may have left a fault
    knob such as another API key on)."""
    stack.sim("config", stack.sim_defaults)
    return stack


async def test_rows_are_the_source_count_and_the_output_names_its_method(sim):
    sim.clear_outputs()
    e = await estimate(Settings(), sample_rows=SAMPLE)

    assert e.rows == len(source_rows(sim)) == SEED_ROWS
    assert e.texts_to_send <= e.rows_to_send < e.rows  # empty texts are never sent; repeated texts once
    assert e.sample_rows == SAMPLE
    assert e.token_method == "count_tokens"
    assert e.calls == e.texts_to_send and e.output_tokens == round(e.calls * e.output_tokens_per_row)
    text = format_estimate(e)
    assert "300" in text and "countTokens API" in text and "gemini-2.5-flash" in text and "<- configured" in text
    # One time for the configured tier: the same as its line in the tier table.
    standard = next(t for t in e.tiers if t.tier == "standard")
    assert e.expected_minutes == standard.expected_hours * 60 and f"{e.expected_minutes:,.1f} min on standard" in text


async def test_pro_is_priced_with_the_thinking_it_cannot_turn_off(sim):
    sim.clear_outputs()
    e = await estimate(Settings(), sample_rows=SAMPLE)
    pro = next(c.usd for c in e.costs if c.model == "gemini-2.5-pro")
    flash = next(c.usd for c in e.costs if c.model == "gemini-2.5-flash")
    # 128 thinking tokens per request on Pro (its least budget), none on Flash at the default budget 0
    assert pro == cost_usd("gemini-2.5-pro", e.input_tokens, e.output_tokens + 128 * e.calls, backend="api_key")
    assert flash == e.usd == cost_usd("gemini-2.5-flash", e.input_tokens, e.output_tokens, backend="api_key")
    configured = await estimate(Settings(model="gemini-2.5-pro"), sample_rows=SAMPLE)
    assert configured.usd == pro and any("128 tokens per request" in n for n in configured.notes)


async def test_the_filter_is_applied_like_the_pipeline(sim):
    japanese = sum(row["lang"] == "ja" for row in generate_rows(SEED_ROWS))
    e = await estimate(Settings(bq_where="lang = 'ja'"), sample_rows=SAMPLE)
    assert e.rows == japanese and 0 < japanese < SEED_ROWS


async def test_estimate_is_within_ten_percent_of_the_run_and_a_finished_run_has_nothing_to_send(stack):
    stack.clear_outputs()
    settings = Settings()
    e = await estimate(settings, sample_rows=SAMPLE)
    await save_estimate(settings, None, e)  # as `themegen estimate` does

    summary = await generate_themes()

    assert summary.rows_succeeded + summary.rows_failed == SEED_ROWS
    report = await report_markdown(summary.flow_run_id)  # the run's report sets the estimate beside the run
    assert f"| LLM calls: estimated ({await made_at()}) / sent | {e.calls:,} / {summary.llm_calls:,} |" in report
    assert within(e.calls, summary.llm_calls), (e.calls, summary.llm_calls)
    assert within(e.input_tokens, summary.input_tokens), (e.input_tokens, summary.input_tokens)
    run_usd = cost_usd(settings.model, summary.input_tokens, summary.output_tokens, backend=settings.gemini.backend)
    assert e.usd is not None and run_usd is not None
    assert within(e.usd, run_usd), (e.usd, run_usd, e.output_tokens, summary.output_tokens)

    after = await estimate(settings, sample_rows=SAMPLE)
    assert (after.rows, after.rows_to_send, after.calls, after.usd) == (SEED_ROWS, 0, 0, 0)
    assert "0 to send" in format_estimate(after)


async def test_without_count_tokens_the_approximation_is_used_and_said(sim):
    counted = await estimate(Settings(), sample_rows=SAMPLE)
    # The simulator rejects any other key, as the real API does: countTokens fails.
    e = await estimate(Settings(gemini_api_key="not-the-key"), sample_rows=SAMPLE)

    assert e.token_method == "approximation" and "countTokens failed" in e.token_method_note
    assert "approximation" in format_estimate(e)
    # The simulator counts with the same rule, so the two agree up to rounding per row.
    assert abs(e.input_tokens_per_row - counted.input_tokens_per_row) <= 1


async def test_vertex_counts_the_system_instruction_with_each_row(sim, monkeypatch):
    api_key = await estimate(Settings(), sample_rows=SAMPLE)
    vertex = genai.Client(vertexai=True, project="themegen-local", location="asia-northeast1",
                          credentials=Credentials(token="local"),  # the simulator checks no token
                          http_options=types.HttpOptions(base_url=sim.gemini_url))
    monkeypatch.setattr(estimate_module, "shared_client", lambda settings: vertex)

    e = await estimate(Settings(gemini_backend="vertex"), sample_rows=SAMPLE)

    assert e.token_method == "count_tokens" and "with each row" in e.token_method_note
    assert abs(e.input_tokens_per_row - api_key.input_tokens_per_row) <= 1


@pytest.mark.parametrize(("text", "tokens"),
                         [("abcd", 1), ("abcde", 2), ("配送遅延", 4), ("配送 late", 4), ("", 1)])
def test_approx_tokens(text, tokens):
    assert approx_tokens(text) == tokens


@pytest.mark.parametrize(("minutes", "timeout_s", "runs"), [(0.0, 3_600, 1), (48, 3_600, 1), (48.1, 3_600, 2),
                                                            (10_000, 3_600, 209), (0.25, 6, 4)])
def test_a_job_longer_than_a_run_is_split_into_runs_that_each_fit(minutes, timeout_s, runs):
    assert child_runs(minutes, timeout_s) == runs
    assert minutes * 60 / runs <= 0.8 * timeout_s


async def test_every_tier_side_by_side_and_what_auto_picks_for_the_deadline(sim):
    sim.clear_outputs()  # rows to send: a finished run would leave none to compare
    day = await estimate(Settings(deadline="1d"), sample_rows=SAMPLE)
    by_tier = {t.tier: t for t in day.tiers}
    assert by_tier["standard"].usd == day.usd
    assert by_tier["flex"].usd == by_tier["batch"].usd == pytest.approx(0.5 * day.usd)
    assert by_tier["batch"].expected_hours == 24 and by_tier["standard"].expected_hours < by_tier["flex"].expected_hours
    assert day.auto.tier.name == "batch"
    text = format_estimate(day)
    assert "auto with deadline 1d: batch" in text and "not available yet" not in text and "<- configured" in text

    # Shorter than the batch turnaround: flex when its minutes per request fit, else standard.
    assert (await estimate(Settings(deadline="2h"), sample_rows=SAMPLE)).auto.tier.name == "flex"
    short = await estimate(Settings(deadline="1m"), sample_rows=SAMPLE)
    assert short.auto.tier.name == "standard" and "auto with deadline 1m: standard" in format_estimate(short)
