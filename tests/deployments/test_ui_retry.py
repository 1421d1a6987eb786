"""Issue 19, done: a run `themegen run` started is a deployment run, so the Prefect UI offers Retry for
it, and the Retry (on the stack's worker, with the settings the command was given) sends only the rows
the run left unfinished. Headless Chromium as in test_ui."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, expect
from prefect.client.orchestration import get_client

from tests.deployments.test_ui import SCREENSHOTS, chromium_installed, page  # noqa: F401 - fixtures
from tests.flows.helpers import nonempty, own_texts, theme_ids
from tests.flows.test_local_themes import ROWS, table_3000  # noqa: F401 - fixture: 3,000 rows in their own table

REPO = Path(__file__).resolve().parents[2]
THEMEGEN = str(Path(sys.executable).parent / "themegen")
TRANSIENT_ROWS = 12
RETRY_TIMEOUT_S = 180


def test_a_failed_cli_run_is_retried_from_the_ui_and_sends_only_its_transient_rows(stack, table_3000, page: Page):
    rows = {row["id"]: row["text"] for row in table_3000}
    sendable = nonempty(rows, sorted(rows))
    # Rows whose text no other row has: identical texts share one answer, and so one failure.
    doomed = sorted(own_texts(rows, sendable))[:: len(sendable) // TRANSIENT_ROWS][:TRANSIENT_ROWS]
    stack.sim("config", {"error_ids": doomed})  # HTTP 500 for them, every time
    # The stack's worker reads the 300-row table (its stack.env); the table and the attempts travel
    # with the run from this shell, to the Retry too.
    env = {**os.environ, "THEMEGEN_STATE_DIR": str(stack.config.state_dir), "THEMEGEN_MAX_ATTEMPTS": "2"}
    assert os.environ["THEMEGEN_BQ_TABLE"] != stack.env["THEMEGEN_BQ_TABLE"]
    started = time.monotonic()
    result = subprocess.run([THEMEGEN, "run", "--rows", str(ROWS), "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    print(f"themegen run --rows {ROWS}: {time.monotonic() - started:.1f} s")

    assert result.returncode == 1, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert {g["reason"]: g["rows"] for g in summary["failures"]}["transient"] == len(doomed)
    assert summary["rows_succeeded"] == len(sendable) - len(doomed)
    # The verdict is stderr's last line; stdout is the JSON alone.
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ") and "retry this flow run" in result.stderr

    stack.sim("config", {"error_ids": []})  # the outage is over
    stack.sim("reset", {})
    flow_run_id = summary["flow_run_id"]
    ui = stack.env["PREFECT_API_URL"].removesuffix("/api")
    # The React UI (/v2) has Retry in the run's menu...
    page.goto(f"{ui}/v2/runs/flow-run/{flow_run_id}")
    page.get_by_role("button", name="Open menu").click(timeout=30_000)
    expect(page.get_by_role("menuitem", name="Retry")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "flow-run-retry-v2.png")
    page.keyboard.press("Escape")
    # ...and the Vue one (the CLI's link) as a button, confirmed in a dialog: the Retry clicked here.
    page.goto(f"{ui}/runs/flow-run/{flow_run_id}")
    page.get_by_role("button", name="Retry").click(timeout=30_000)
    page.get_by_role("dialog").get_by_role("button", name="Retry").click()
    page.screenshot(path=SCREENSHOTS / "flow-run-retry-v1.png")

    started = time.monotonic()
    with get_client(sync_client=True) as client:
        # The Retry passes through AwaitingRetry and Running before it is final again.
        while (flow_run := client.read_flow_run(flow_run_id)).run_count < 2 or not flow_run.state.is_final():
            assert time.monotonic() - started < RETRY_TIMEOUT_S, f"still {flow_run.state.name} (run {flow_run.run_count})"
            time.sleep(1)
    print(f"Retry: {time.monotonic() - started:.1f} s")
    assert flow_run.state.is_completed(), flow_run.state.message
    assert stack.sim("stats")["requests"] == len(doomed)
    assert theme_ids(stack) == set(sendable)
