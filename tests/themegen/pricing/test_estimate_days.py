"""Days a run needs under a per-day quota, per rows-per-request packing, and the packing the run uses."""

from __future__ import annotations

import re

from tests.themegen.cli.test_app import themegen
from themegen.config.settings import Settings
from themegen.pricing.estimate_days import days_per_packing, fit_day, packing_for_day


def test_thirty_thousand_rows_at_ten_thousand_requests_a_day_fit_one_day_at_five_rows_per_request():
    options = days_per_packing(30_000, 10_000, None, 1)
    days = {o.rows_per_request: o.days for o in options}
    assert days[1] == 3.0 and days[2] == 1.5 and days[5] == 0.6 and days[10] == 0.3
    assert packing_for_day(options, 1) == 5  # the fewest rows per request that fit the day
    assert packing_for_day(options, 10) == 10  # the configured packing fits: kept
    assert packing_for_day(days_per_packing(3_000_000, 10_000, None, 1), 1) == 50  # nothing fits: fewest days


def test_tokens_per_day_count_the_instructions_once_per_request():
    options = days_per_packing(1_000, None, 90_000, 1, row_tokens=300.0, instruction_tokens=250.0)
    tokens = {o.rows_per_request: o.input_tokens for o in options}
    assert tokens[1] == 300_000 and tokens[10] == 1_000 * 50 + 100 * 250
    assert packing_for_day(options, 1) == 10  # 75,000 tokens: the first packing under 90,000 (5: 100,000)


def test_the_run_packs_more_rows_only_when_the_day_needs_it():
    settings = Settings(rpd=100)
    assert fit_day(settings, 90).rows_per_request == 1
    assert fit_day(settings, 450).rows_per_request == 5
    assert fit_day(settings.with_overrides(pack_to_fit_day=False), 450).rows_per_request == 1
    assert fit_day(Settings(), 10**6).rows_per_request == 1  # no per-day quota given: as configured


def test_themegen_estimate_at_a_requests_per_day_quota_shows_days_per_packing_and_the_one_it_uses(stack, tmp_path):
    stack.clear_outputs()
    result = themegen(["estimate", "--sample", "20", "--rpd", "100"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "days at 100 requests a day" in text
    texts = int(re.search(r"([\d,]+) distinct texts", text)[1].replace(",", ""))
    lines = {int(m[1]): (int(m[2].replace(",", "")), float(m[3]))
             for m in re.finditer(r"^\s+(\d+)\s+([\d,]+)\s+\S+\s+([\d.]+)", text, re.M)}
    assert lines[1] == (texts, round(texts / 100, 2))  # one request per text at one row per request
    chosen = min(k for k, (_, days) in lines.items() if days <= 1)
    assert re.search(rf"^\s+{chosen}\s.*<- the run uses this", text, re.M)
    assert f"rows_per_request={chosen}: fits in one day" in text
