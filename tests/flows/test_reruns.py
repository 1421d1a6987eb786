"""Reruns never pay twice: the simulator's request counter is the witness."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prefect.client.orchestration import get_client
from prefect.states import Scheduled

from flows.generate_themes import generate_themes
from tests.flows.helpers import assert_rows_add_up, batch_rows, nonempty, own_texts, source_rows, theme_ids

ROWS, BATCH = 200, 20
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def fail_batches(stack, rows, batch_ids: list[int], rows_limit: int = ROWS) -> list[str]:
    """Make every row of these batches answer HTTP 500; returns the rows that will be called. Rows
    whose text another row of the run has are spared: they would share that row's outcome."""
    alone = own_texts(rows, nonempty(rows, sorted(rows)[:rows_limit]))
    doomed = [i for b in batch_ids for i in nonempty(rows, batch_rows(BATCH, b, rows_limit)) if i in alone]
    stack.sim("config", {"error_ids": doomed})
    return doomed


async def test_rerun_of_a_finished_run_makes_zero_calls_and_rewrites_nothing(stack, sink):
    sink.clear_outputs()
    first = await generate_themes(rows_limit=120, batch_size=30)
    written = {source_id: row.generated_at for source_id, row in sink.themes().items()}
    calls = stack.sim("stats")["requests"]

    second = await generate_themes(rows_limit=120, batch_size=30)

    assert stack.sim("stats")["requests"] == calls == first.llm_calls > 0
    assert second.llm_calls == 0 and second.themes_written == 0
    assert second.rows_already_done == second.rows_succeeded == first.rows_succeeded == len(written)
    assert second.rows_from_cache == second.rows_from_same_text == 0  # the sink says they are done: the cache is not read
    assert_rows_add_up(first)
    assert_rows_add_up(second)
    assert {source_id: row.generated_at for source_id, row in sink.themes().items()} == written


@pytest.mark.parametrize("rerun", [{"batch_ids": [3, 7]}, {}])
async def test_rerun_after_failed_batches_calls_only_their_rows(stack, monkeypatch, rerun):
    stack.clear_outputs()
    monkeypatch.setenv("THEMEGEN_MAX_ATTEMPTS", "2")
    rows = source_rows(stack)
    doomed = fail_batches(stack, rows, [3, 7])

    state = await generate_themes(rows_limit=ROWS, batch_size=BATCH, return_state=True)

    # the printed parameters pin the batch size: batch ids count batches of it
    assert state.is_failed() and f'{{"batch_ids": [3, 7], "batch_size": {BATCH}}}' in state.message
    assert set(doomed) <= {r[0] for r in stack.read_table("SELECT SourceId FROM ThemeFailures")}
    stack.sim("config", {"error_ids": []})
    stack.sim("reset", {})

    summary = await generate_themes(rows_limit=ROWS, batch_size=BATCH, **rerun)

    assert stack.sim("stats")["requests"] == summary.llm_calls == len(doomed)
    assert theme_ids(stack) == set(nonempty(rows, sorted(rows)[:ROWS]))
    remaining = {r[0] for r in stack.read_table("SELECT SourceId FROM ThemeFailures")}
    assert not remaining & set(doomed)


async def test_ui_retry_of_a_failed_flow_run_skips_finished_rows(stack, monkeypatch):
    """The UI's Retry sets the flow run to Scheduled/AwaitingRetry; a worker then executes the
    same flow run id with `python -m prefect.engine` (what this test does in place of a worker)."""
    stack.clear_outputs()
    monkeypatch.setenv("THEMEGEN_MAX_ATTEMPTS", "2")
    rows = source_rows(stack)
    doomed = fail_batches(stack, rows, [2], rows_limit=100)
    deployment_id = await (await generate_themes.ato_deployment(name="ui-retry-test")).aapply()
    async with get_client() as client:
        flow_run = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"rows_limit": 100, "batch_size": BATCH}
        )

        def execute() -> None:
            subprocess.run([sys.executable, "-m", "prefect.engine", str(flow_run.id)], cwd=REPO, check=False,
                           capture_output=True, timeout=300)

        execute()
        assert (await client.read_flow_run(flow_run.id)).state.is_failed()
        stack.sim("config", {"error_ids": []})
        stack.sim("reset", {})

        await client.set_flow_run_state(flow_run.id, Scheduled(name="AwaitingRetry"), force=True)
        execute()

        assert (await client.read_flow_run(flow_run.id)).state.is_completed()
    assert stack.sim("stats")["requests"] == len(doomed)
    assert theme_ids(stack) == set(nonempty(rows, sorted(rows)[:100]))
