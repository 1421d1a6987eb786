"""A per-day quota refusal stops the run cleanly: nothing answered is lost, nothing is paid twice."""

from __future__ import annotations

from flows.generate_themes import generate_themes
from tests.flows.helpers import nonempty, source_rows, theme_ids

ROWS, BATCH, DAILY = 200, 20, 70


async def test_per_day_quota_stops_the_run_and_a_later_rerun_calls_only_the_unanswered_rows(stack):
    stack.clear_outputs()
    wanted = set(nonempty(rows := source_rows(stack), sorted(rows)[:ROWS]))
    stack.sim("config", {"rpd": DAILY})

    state = await generate_themes(rows_limit=ROWS, batch_size=BATCH, max_parallel_batches=2, return_state=True)

    answered = stack.sim("stats")["ok"]
    assert state.is_failed() and "per-day quota exhausted" in state.message
    assert answered == DAILY  # the stop comes once the day's quota is used, not before
    assert stack.sim("stats")["requests"] - answered <= 2 * BATCH  # only what was in flight got refused
    assert len(theme_ids(stack)) == answered  # every answered row reached Spanner
    summary = await state.aresult(raise_on_failure=False)
    assert summary.rows_succeeded == answered and summary.rows_failed == ROWS - answered

    stack.sim("config", {"rpd": None})
    stack.sim("reset", {})
    rerun = await generate_themes(rows_limit=ROWS, batch_size=BATCH)

    assert stack.sim("stats")["requests"] == rerun.llm_calls == len(wanted) - answered
    assert theme_ids(stack) == wanted
