"""A deployment run stopped by Gemini's per-day quota schedules its own continuation at the reset:
a Scheduled flow run of the same deployment with the same parameters, in the Prefect API (and so the
UI). The test moves the reset: it starts the simulator's next day and the continuation at once,
until the chain has themed every row, and counts at the simulator that no row was paid twice."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.states import Cancelled, Scheduled

from local_stack.bigquery import seed_table
from tests.deployments.conftest import DEPLOYMENT, REPO, flow_run_id_in, process_worker, run_cli, wait_for_final_state
from tests.flows.helpers import theme_ids
from themegen.limiter.day import next_reset

ROWS, PER_DAY, TABLE = 200, 50, "continued"


def _continuation_of(flow_run) -> object:
    with get_client(sync_client=True) as client:
        found = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=[f"{flow_run.name}-continued"])))
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def a_day_quota_on_a_table_of_its_own(stack, table: str, text: str) -> dict[str, str]:
    """ROWS rows in `table` (ids from its first letter), the simulator's counters from zero and its day
    quota PER_DAY; the env of a worker on that table. The sink keeps the session's deployed run's rows
    (test_deploy reads them), so each test's rows have ids, and texts, of their own."""
    stack.sim("reset", {})
    seed_table(stack.bigquery(), f"{stack.config.project}.{stack.config.dataset}.{table}",
               [{"id": f"{table[0]}{i:04d}", "text": f"row {i}: {text}"} for i in range(ROWS)])
    stack.sim("config", {"rpd": PER_DAY})
    return {**os.environ, "THEMEGEN_HOME": str(REPO), "THEMEGEN_BQ_TABLE": table}


def test_a_run_stopped_for_the_day_continues_after_the_reset_until_every_row_is_done(stack, deployed_run, tmp_path):
    env = a_day_quota_on_a_table_of_its_own(stack, TABLE, "the app logs me out and support is slow")
    try:
        log = tmp_path / "worker.log"
        days = 0
        with process_worker(stack, env, log, limit=2) as worker:
            out = run_cli(sys.executable, "-m", "prefect", "deployment", "run", DEPLOYMENT, "--param", "batch_size=20", env=env)
            run = wait_for_final_state(flow_run_id_in(out), worker, log)
            first = run
            while run.state.is_failed():
                days += 1
                assert days < ROWS // PER_DAY + 1, f"more days than the work needs: {run.state.message}"
                assert stack.sim("stats")["ok"] == days * PER_DAY  # each day sends exactly its quota, then stops
                assert "per-day quota exhausted" in run.state.message and "Continues at" in run.state.message
                continued = _continuation_of(run)
                assert continued.state.is_scheduled() and continued.parameters == first.parameters
                assert continued.deployment_id == first.deployment_id
                expected = next_reset(run.state.timestamp, "00:00 America/Los_Angeles")
                assert abs((continued.expected_start_time - expected).total_seconds()) < 1
                assert str(continued.id) in run.state.message
                # the reset, now: the simulator's next day, and the continuation's start moved to it
                stack.sim("new_day", {})
                with get_client(sync_client=True) as client:
                    client.set_flow_run_state(continued.id, Scheduled(scheduled_time=datetime.now(timezone.utc)), force=True)
                run = wait_for_final_state(str(continued.id), worker, log)
    finally:
        stack.sim("config", {"rpd": None})  # the tests after this one send without a day's quota
    assert run.state.is_completed(), f"{run.state.message}\n{log.read_text()[-3000:]}"
    assert days == ROWS // PER_DAY - 1  # 200 requests of work at 50 a day: the first run and three continuations
    stats = stack.sim("stats")
    assert stats["ok"] == ROWS  # every row paid exactly once across the chain
    assert {i for i in theme_ids(stack) if i.startswith("c")} == {f"c{i:04d}" for i in range(ROWS)}


def test_a_sharded_run_whose_children_stop_for_the_day_continues_itself(stack, deployed_run, tmp_path):
    """The children schedule nothing (each is a shard of the parent's work): the parent, a deployment
    run of generate-themes-sharded, schedules its own continuation with its parameters."""
    env = a_day_quota_on_a_table_of_its_own(stack, "sharded_continued", "my refund is late and nobody answers")
    try:
        log = tmp_path / "worker.log"
        with process_worker(stack, env, log, limit=3) as worker:
            out = run_cli(sys.executable, "-m", "prefect", "deployment", "run",
                          "generate-themes-sharded/generate-themes-sharded",
                          "--param", "shards=2", "--param", "batch_size=20", env=env)  # fmt: skip
            parent = wait_for_final_state(flow_run_id_in(out), worker, log)
    finally:
        stack.sim("config", {"rpd": None})
    assert parent.state.is_failed() and "Continues at" in parent.state.message, parent.state.message
    continued = _continuation_of(parent)
    assert continued.state.is_scheduled() and continued.parameters == parent.parameters
    assert continued.deployment_id == parent.deployment_id and str(continued.id) in parent.state.message
    assert stack.sim("stats")["ok"] == PER_DAY  # the day's quota, spent once between the two shards
    with get_client(sync_client=True) as client:  # not left for the worker of a later test to start
        client.set_flow_run_state(continued.id, Cancelled(), force=True)
