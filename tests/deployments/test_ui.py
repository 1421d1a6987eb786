"""The deployment run's report in the Prefect UI, seen by headless Chromium (Debian's package, driven
by Playwright; `playwright install` is never needed). Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Offline and quiet: no GPU, no QUIC, no first-run, update, sync or other background traffic.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"



@pytest.fixture(autouse=True)
def chromium_installed() -> None:
    # A missing browser is a failed check, not a silently skipped one.
    if not Path(CHROMIUM).exists():
        pytest.fail("needs Debian's chromium at /usr/bin/chromium: apt-get install chromium (.ci/run does)")


def test_the_report_artifact_shows_in_the_flow_run_page(deployed_run):
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{deployed_run.ui_url}/runs/flow-run/{deployed_run.flow_run.id}")

            page.get_by_role("tablist").get_by_text("Artifacts", exact=True).click()
            card = page.get_by_text("themegen-report", exact=True)
            expect(card).to_be_visible(timeout=30_000)
            expect(page.get_by_text("themegen run report", exact=True)).to_be_visible()
            page.screenshot(path=SCREENSHOTS / "flow-run-report.png", full_page=True)

            # The card opens the artifact: the rendered markdown report of this run.
            card.click()
            expect(page.get_by_role("heading", name="themegen run report")).to_be_visible(timeout=30_000)
            page.screenshot(path=SCREENSHOTS / "report-artifact.png", full_page=True)
        finally:
            browser.close()
