"""THEMEGEN_RPD: a run never sends more requests than the day allows, stops as on a per-day refusal,
and says when it continues (a run that is not a deployment run schedules nothing and says so)."""

from __future__ import annotations

import pytest

from flows.generate_themes import generate_themes
from local_stack.bigquery import seed_table
from tests.flows.helpers import theme_ids

ROWS, BUDGET = 120, 50


@pytest.fixture
def day_budget(stack, monkeypatch):
    stack.clear_outputs()
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", "day_budget")
    seed_table(stack.bigquery(), f"{stack.config.project}.{stack.config.dataset}.day_budget",
               [{"id": f"d{i:04d}", "text": f"row {i}: a delayed refund and a friendly agent"} for i in range(ROWS)])


async def test_the_days_budget_stops_the_run_after_exactly_its_requests_and_the_next_run_does_the_rest(
        stack, day_budget, monkeypatch):
    monkeypatch.setenv("THEMEGEN_RPD", str(BUDGET))
    monkeypatch.setenv("THEMEGEN_PACK_TO_FIT_DAY", "false")  # one row per request: 120 requests of work

    state = await generate_themes(batch_size=20, return_state=True)

    stats = stack.sim("stats")
    assert stats["requests"] == stats["ok"] == BUDGET  # counted by the simulator: not one more, no refusal needed
    assert state.is_failed() and "budget for the day" in state.message and "Continues at" in state.message
    assert "not a deployment run" in state.message
    summary = await state.aresult(raise_on_failure=False)
    assert summary.continues_at is not None and len(theme_ids(stack)) == BUDGET

    stack.sim("reset", {})
    monkeypatch.setenv("THEMEGEN_RPD", str(ROWS))  # the next day, as a new run has its own budget
    rest = await generate_themes(batch_size=20)
    assert stack.sim("stats")["requests"] == rest.llm_calls == ROWS - BUDGET  # no row paid twice
    assert len(theme_ids(stack)) == ROWS


async def test_the_run_packs_rows_to_fit_the_day(stack, day_budget, monkeypatch):
    monkeypatch.setenv("THEMEGEN_RPD", "30")  # 120 rows: 4 days at 1 row per request, 0.6 at 5
    summary = await generate_themes(batch_size=20)
    assert stack.sim("stats")["requests"] == summary.llm_calls <= 30 and len(theme_ids(stack)) == ROWS
