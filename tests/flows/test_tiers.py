"""Tiers and identical texts end to end on the local stack (BigQuery emulator, simulated Gemini,
Spanner emulator): the simulator counts the requests and says which tier each one asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from flows.generate_themes import generate_themes
from local_stack.bigquery import bigquery_client, seed_table
from local_stack.gemini_sim import derive_themes
from tests.flows.helpers import assert_rows_add_up, is_empty, source_rows, theme_ids
from tests.flows.test_bad_input import report_markdown

SAME = "Great!"
OTHER = "The app crashes when I open the billing page on Android"


def seed(stack, table: str, rows: dict[str, str]) -> None:
    client = bigquery_client(stack.config.project, stack.env["THEMEGEN_BQ_API_ENDPOINT"])
    seed_table(client, f"{stack.config.project}.{stack.config.dataset}.{table}",
               [{"id": i, "text": t, "lang": "en", "created_at": "2026-01-01T00:00:00Z"} for i, t in rows.items()])


@pytest.fixture
def repeats(stack, monkeypatch):
    """Twenty rows saying the same thing, and one that does not."""
    seed(stack, "repeats", {f"same-{i:02d}": SAME for i in range(20)} | {"other": OTHER})
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", "repeats")


async def test_twenty_rows_with_one_identical_text_cost_one_request(stack, repeats, monkeypatch):
    stack.clear_outputs()
    stack.sim("config", {"latency_s": 0.3})  # batches of 5 overlap while the first request is out
    summary = await generate_themes(batch_size=5)

    assert stack.sim("stats")["requests"] == 2 == summary.llm_calls  # SAME once, OTHER once
    themes = dict(stack.read_table("SELECT t.SourceId, t.Themes FROM Themes AS t"))
    assert len(themes) == 21 and all(themes[f"same-{i:02d}"] == derive_themes(SAME) for i in range(20))
    assert (summary.rows_succeeded, summary.rows_answered, summary.requests_saved) == (21, 2, 19)
    assert (summary.rows_from_same_text, summary.rows_from_cache) == (19, 0)
    assert_rows_add_up(summary)
    assert "requests saved (rows that took an identical text's answer) | 19 |" in await report_markdown(
        summary.flow_run_id)

    # A later run, other rows, the same text: the row cache holds the text's answer.
    seed(stack, "repeats_later", {f"later-{i}": SAME for i in range(5)})
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", "repeats_later")
    later = await generate_themes()
    assert stack.sim("stats")["requests"] == 2
    assert (later.rows_succeeded, later.llm_calls, later.requests_saved) == (5, 0, 5)
    assert_rows_add_up(later)


async def test_flex_end_to_end_with_shed_requests(stack):
    stack.clear_outputs()
    stack.sim("config", {"flex_shed_rate_429": 0.15, "flex_shed_rate_503": 0.05, "flex_latency_s": 0.2})
    rows = source_rows(stack)
    expected = {i for i in sorted(rows)[:40] if not is_empty(rows[i])}

    summary = await generate_themes(rows_limit=40, batch_size=20, tier="flex")

    stats = stack.sim("stats")
    flex = stats["flex"]
    assert flex["requests"] == stats["requests"]  # every request asked for flex
    assert flex["shed_429"] + flex["shed_503"] > 0  # some were shed, and retried after a backoff
    assert stats["requests"] == len(expected) + flex["shed_429"] + flex["shed_503"]
    assert theme_ids(stack) == expected and summary.rows_succeeded == len(expected)
    assert summary.tier == "flex" and summary.cost_usd == pytest.approx(0.5 * summary.cost_usd_standard)
    assert summary.cost_usd_standard > 0


async def test_auto_with_a_one_day_deadline_runs_batch_and_the_report_says_why(stack):
    stack.clear_outputs()
    summary = await generate_themes(rows_limit=20, tier="auto", deadline="1d")
    stats = stack.sim("stats")
    assert summary.tier == "batch" and stats["batch"]["jobs_created"] == 1 == summary.inference_jobs
    assert summary.rows_answered_by_batch > 0 and stats["requests"] == summary.llm_calls == 0  # no online call
    assert summary.cost_usd == pytest.approx(0.5 * summary.cost_usd_standard) and summary.cost_usd_standard > 0
    report = await report_markdown(summary.flow_run_id)
    assert "| tier | batch |" in report and "Tier **batch**: the cheapest tier expected within 24.0 h" in report


async def test_auto_with_a_deadline_shorter_than_flex_runs_standard_and_the_report_says_why(stack):
    stack.clear_outputs()
    summary = await generate_themes(rows_limit=20, tier="auto", deadline="1m")
    assert summary.tier == "standard" and stack.sim("stats")["flex"]["requests"] == 0
    assert summary.cost_usd == summary.cost_usd_standard > 0
    report = await report_markdown(summary.flow_run_id)
    assert "| tier | standard |" in report and "Tier **standard**: the cheapest tier expected within 1 min" in report


def test_run_json_carries_the_tier_and_both_costs(stack, tmp_path):
    stack.clear_outputs()
    environment = {**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "themegen.cli.app", "run", "--rows", "30", "--tier", "flex", "--json"],
                            env=environment, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["tier"] == "flex" and summary["cost_usd_standard"] > 0
    assert summary["cost_usd"] == pytest.approx(0.5 * summary["cost_usd_standard"])


async def test_flex_with_a_deadline_inside_its_fallback_margin_sends_at_the_standard_price(stack):
    stack.clear_outputs()
    summary = await generate_themes(rows_limit=20, tier="flex", deadline="1m")  # less than flex's 5-minute margin
    stats = stack.sim("stats")
    assert stats["flex"]["requests"] == 0 and summary.llm_calls_fallback == summary.llm_calls == stats["requests"] > 0
    assert summary.tier == "flex" and summary.cost_usd == pytest.approx(summary.cost_usd_standard)


def test_estimate_shows_every_tier_and_auto_for_the_deadline_and_names_a_bad_deadline(stack, tmp_path):
    environment = {**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path), "COLUMNS": "200"}

    def estimate(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "themegen.cli.app", "estimate", "--sample", "50", *args],
                              env=environment, capture_output=True, text=True, timeout=180)

    day = estimate("--deadline", "1d")
    assert day.returncode == 0, day.stderr
    assert all(f"  {tier} " in day.stdout for tier in ("standard", "flex", "batch"))
    assert "auto with deadline 1d: batch" in day.stdout
    assert "auto with deadline 1m: standard" in estimate("--deadline", "1m").stdout
    bad = estimate("--deadline", "soon")
    assert bad.returncode == 1 and "THEMEGEN_DEADLINE" in bad.stderr and "Traceback" not in bad.stderr
