"""A per-day quota refusal stops the run cleanly: nothing answered is lost, nothing is paid twice,
and nothing is sent after it but what was already on the wire."""

from __future__ import annotations

from flows.generate_themes import generate_themes
from tests.flows.helpers import distinct_texts, nonempty, source_rows, theme_ids

ROWS, BATCH, DAILY = 200, 20, 30


async def test_per_day_quota_stops_all_sending_and_a_rerun_then_finishes_every_unfinished_row(stack, monkeypatch):
    stack.clear_outputs()
    wanted = set(nonempty(rows := source_rows(stack), sorted(rows)[:ROWS]))
    # A low RPM (10/s) keeps most requests waiting in the limiter when the refusal comes back.
    monkeypatch.setenv("THEMEGEN_RPM", "600")
    stack.sim("config", {"rpd": DAILY, "latency_s": 0.2})

    state = await generate_themes(rows_limit=ROWS, batch_size=BATCH, max_parallel_batches=4, return_state=True)

    stats = stack.sim("stats")
    answered = stats["ok"]
    assert state.is_failed() and "per-day quota exhausted" in state.message and "in flight" in state.message
    assert answered == DAILY  # the stop comes once the day's quota is used, not before
    # Counted by the simulator: nothing arrived after its first per-day refusal but what was already
    # on the wire (loopback: in practice nothing).
    assert stats["after_day_refusal"] <= 2, stats
    assert stats["requests"] - answered - stats["http_429"] == 0
    assert stats["http_429"] <= 1 + stats["in_progress_at_day_refusal"] + stats["after_day_refusal"]
    summary = await state.aresult(raise_on_failure=False)
    # every answered row reached Spanner, and every row with the same text as one
    assert len(theme_ids(stack)) == answered + summary.requests_saved == summary.rows_succeeded
    assert summary.rows_failed == ROWS - summary.rows_succeeded

    stack.sim("config", {"rpd": None, "latency_s": 0.0})
    stack.sim("reset", {})
    monkeypatch.setenv("THEMEGEN_RPM", "600000")
    rerun = await generate_themes(rows_limit=ROWS, batch_size=BATCH)

    assert stack.sim("stats")["requests"] == rerun.llm_calls == distinct_texts(rows, wanted) - answered
    assert theme_ids(stack) == wanted
