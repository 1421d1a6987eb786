"""deployments/zombie-flow-runs.yaml: it is a valid Prefect automation, runs heartbeat often enough for
it, and, against the stack's real Prefect server, a flow process killed with SIGKILL ends Crashed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture

from deployments.setup import AUTOMATION_FILES, apply_automation, load_automation
from local_stack.stack import PREFECT_RUN_ENV

REPO = Path(__file__).resolve().parents[2]
ZOMBIE_FILE = REPO / "deployments" / "zombie-flow-runs.yaml"
HEARTBEAT_S = 30  # Prefect's minimum PREFECT_FLOWS_HEARTBEAT_FREQUENCY
# Longer than one heartbeat period, so only a run that stopped sending heartbeats can trip it.
TEST_WITHIN_S = 40


def test_the_file_is_a_prefect_automation_that_crashes_silent_runs():
    automation = load_automation(ZOMBIE_FILE)  # a typo in a field name or value fails here
    assert ZOMBIE_FILE in AUTOMATION_FILES  # `themegen setup` applies it
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger) and trigger.posture == Posture.Proactive
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed"} <= trigger.expect
    assert trigger.for_each == {"prefect.resource.id"}
    assert set(trigger.match_related.root["prefect.resource.name"]) == {"generate-themes", "generate-themes-sharded"}
    [action] = automation.actions
    assert isinstance(action, ChangeFlowRunState) and action.state.value == "CRASHED"
    assert "Retry" in action.message


def test_every_run_heartbeats_a_few_times_within_the_window():
    """Deployed runs (prefect.yaml) and `themegen run` (stack.env) heartbeat often enough: a live run
    sends at least three heartbeats in the automation's window."""
    within = load_automation(ZOMBIE_FILE).trigger.within.total_seconds()
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    envs = [d["work_pool"]["job_variables"]["env"] for d in deployments] + [PREFECT_RUN_ENV]
    for env in envs:
        assert 3 * int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) <= within


@pytest.fixture
async def quick_guard(stack):
    """The shipped automation under its own name with a short window (heartbeats cannot be faster)."""
    shipped = load_automation(ZOMBIE_FILE)
    trigger = shipped.trigger.model_copy(update={"within": timedelta(seconds=TEST_WITHIN_S)})
    automation = shipped.model_copy(update={"name": "test-zombie-flow-runs", "trigger": trigger})
    async with get_client() as client:
        await apply_automation(client, automation)
        yield automation
        for found in await client.read_automations_by_name(automation.name):
            await client.delete_automation(found.id)


def first_heartbeat_since(api_url: str, since: datetime) -> tuple[str, datetime] | None:
    """(flow run id, time) of the first generate-themes heartbeat the server stored since `since`."""
    body = {"filter": {"occurred": {"since": since.isoformat()}, "event": {"name": ["prefect.flow-run.heartbeat"]}},
            "limit": 50}
    events = httpx.post(f"{api_url}/events/filter", json=body).raise_for_status().json()["events"]
    for event in sorted(events, key=lambda e: e["occurred"]):
        if any(r.get("prefect.resource.name") == "generate-themes" for r in event["related"]):
            run_id = event["resource"]["prefect.resource.id"].removeprefix("prefect.flow-run.")
            return run_id, datetime.fromisoformat(event["occurred"].replace("Z", "+00:00"))
    return None


async def test_a_killed_flow_process_ends_crashed_with_the_retry_message(stack, quick_guard):
    stack.clear_outputs()
    stack.sim("config", {"latency_s": 2.0})  # the run must still be going when it is killed
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    # --in-process: the flow's process is the one this test kills (on a worker it would be the worker's child).
    command = [sys.executable, "-m", "themegen.cli.app", "run", "--batch-size", "20", "--max-parallel", "1",
               "--in-process"]
    env = os.environ | {"THEMEGEN_STATE_DIR": str(stack.config.state_dir),
                        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api_url = stack.env["PREFECT_API_URL"]
    try:
        deadline = time.monotonic() + 30
        while (heartbeat := first_heartbeat_since(api_url, since)) is None:  # sent as the flow starts
            assert process.poll() is None, "the run ended before its first heartbeat arrived"
            assert time.monotonic() < deadline, "no heartbeat from the run in 30 s"
            await asyncio.sleep(0.5)
        async with get_client() as client:
            assert (await client.read_flow_run(heartbeat[0])).state.is_running()
        process.send_signal(signal.SIGKILL)  # no final state can be sent now
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        stack.sim("config", {"latency_s": 0.0})

    run_id, beat_at = heartbeat
    deadline = time.monotonic() + TEST_WITHIN_S + 20  # the window, the server's 5-s evaluation, slack
    async with get_client() as client:
        while not (flow_run := await client.read_flow_run(run_id)).state.is_final():
            assert time.monotonic() < deadline, f"still {flow_run.state.name} {TEST_WITHIN_S + 20} s after the kill"
            await asyncio.sleep(1)
    assert flow_run.state.is_crashed(), f"{flow_run.state.name}: {flow_run.state.message}"
    assert flow_run.state.message == quick_guard.actions[0].message
    # Crashed for the missing heartbeat, not earlier: only after the window had passed.
    assert flow_run.state.timestamp - beat_at >= timedelta(seconds=TEST_WITHIN_S - 1)
