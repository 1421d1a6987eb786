"""Which configuration to use and why, in one sentence; the comparison as markdown (pure)."""

from __future__ import annotations

from themegen.quality.compare import decide
from themegen.quality.comparing import Comparison, Side
from themegen.quality.comparison_report import advice, comparison_markdown
from themegen.quality.models import Rate
from themegen.quality.stats import wilson


def rate(check: str, passed: int, judged: int = 600) -> Rate:
    low, high = wilson(passed, judged)
    return Rate(check=check, passed=passed, judged=judged, low=low, high=high)


def side(model: str, cost: float | None, specific: int) -> Side:
    rates = [rate("grounded", 600), rate("specific", specific)]
    return Side(model=model, prompt="built-in", fingerprint="f", cost_per_1000_rows=cost, rates=rates)


def comparison(a_wins: int, b_wins: int, cost_a: float | None, cost_b: float | None) -> Comparison:
    return Comparison(a=side("gemini-2.5-flash-lite", cost_a, 540), b=side("gemini-2.5-flash", cost_b, 594),
                      judge_model="gemini-2.5-pro", environment="GCP", rows_compared=100,
                      decision=decide(a_wins, b_wins, 100 - a_wins - b_wins, 2.81))


def test_a_winner_is_named_with_the_check_the_sides_differ_most_on_and_the_prices():
    text = advice(comparison(2, 40, 0.0801, 0.3102))
    assert text.startswith("Use B (gemini-2.5-flash, built-in): preferred in both orders on 40 of 42 rows")
    assert "specific 90.0% for A, 99.0% for B" in text and "$0.0801 vs $0.3102 per 1,000 rows" in text


def test_without_a_difference_the_cheaper_is_advised_unless_a_price_is_unknown():
    assert "use the cheaper, A (gemini-2.5-flash-lite" in advice(comparison(10, 12, 0.08, 0.31))
    same = comparison(10, 12, 0.08, 0.31)
    same.b.rates = same.a.rates
    assert "12 for B, 78 ties; the same rubric rates): use the cheaper" in advice(same)
    unknown = advice(comparison(10, 12, None, 0.31))
    assert "use either, or the one whose price you know" in unknown and "no published price vs $0.3100" in unknown


def test_the_markdown_sets_the_sides_rates_and_prices_side_by_side():
    result = comparison(2, 40, 0.08, 0.31)
    result.advice = advice(result)
    markdown = comparison_markdown(result)
    assert f"**{result.advice}**" in markdown
    assert "| specific (95% interval) | 0.900 [0.873, 0.922] | 0.990 [0.978, 0.995] |" in markdown
    assert "| USD per 1,000 rows | $0.0800 | $0.3100 |" in markdown
