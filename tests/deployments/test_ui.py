"""The deployment run's report in the Prefect UI, seen by headless Chromium (Debian's package, driven
by Playwright; `playwright install` is never needed). Leaves test-artifacts/flow-run-report.png."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.deployments.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
# Offline and quiet: no GPU, no QUIC, no first-run, update, sync or other background traffic.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = REPO / "test-artifacts" / "flow-run-report.png"


def test_the_report_artifact_shows_in_the_flow_run_page(deployed_run):
    url = f"{deployed_run.ui_url}/runs/flow-run/{deployed_run.flow_run.id}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("tab", name="Artifacts").click()
            expect(page.get_by_text("themegen-report").first).to_be_visible(timeout=30_000)
            Path(SCREENSHOT).parent.mkdir(exist_ok=True)
            page.screenshot(path=SCREENSHOT, full_page=True)
        finally:
            browser.close()
