"""The deployment run's report in the Prefect UI, seen by headless Chromium (Debian's package, driven
by Playwright; `playwright install` is never needed). Screenshots go to test-artifacts/ (git-ignored).

Prefect 3.9 serves two UIs: the Vue one under the root (where a run's link from the CLI and the logs
lands) and the React one under /v2 (where the root sends a browser that chose none). The report,
charts included, must show in both."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from themegen.report.chart import LATENCY_TITLE, THROUGHPUT_TITLE

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


@pytest.fixture
def page():
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def expect_charts_drawn(page: Page) -> None:
    """Both charts are images the browser decoded and laid out, not just markup it was sent."""
    for title in (THROUGHPUT_TITLE, LATENCY_TITLE):
        chart = page.get_by_role("img", name=title, exact=True)
        expect(chart).to_be_visible(timeout=30_000)
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, f"{title}: laid out at {box}"
        # A blocked or broken image still takes room; only a decoded one has a natural size.
        assert chart.evaluate("img => img.complete && img.naturalWidth") > 0, f"{title}: the image did not decode"


# Where a table's right edge is cut: the window, or an ancestor that clips what overflows it.
_CUT_OFF_TABLES = """() => [...document.querySelectorAll('table')].filter(table => {
    let right = window.innerWidth;
    for (let box = table.parentElement; box; box = box.parentElement) {
        if (getComputedStyle(box).overflowX !== 'visible') right = Math.min(right, box.getBoundingClientRect().right);
    }
    return table.getBoundingClientRect().right > right + 1;
}).map(table => table.innerText.slice(0, 80))"""


def expect_tables_fit(page: Page) -> None:
    """At 1440 px every table of the report shows its last column: none runs past the window or
    under the edge of a box that clips it."""
    expect(page.locator("table").first).to_be_visible(timeout=30_000)
    assert page.evaluate(_CUT_OFF_TABLES) == []


@pytest.mark.parametrize("ui", ["", "/v2"], ids=["ui-v1", "ui-v2"])
def test_the_report_artifact_and_its_charts_show_in_the_flow_run_page(deployed_run, page: Page, ui: str):
    name = ui.strip("/") or "v1"
    page.goto(f"{deployed_run.ui_url}{ui}/runs/flow-run/{deployed_run.flow_run.id}")

    page.get_by_role("tablist").get_by_text("Artifacts", exact=True).click()
    card = page.get_by_text("themegen-report", exact=True)
    expect(card).to_be_visible(timeout=30_000)
    page.screenshot(path=SCREENSHOTS / f"flow-run-report-{name}.png", full_page=True)

    # The card opens the artifact: the rendered markdown report of this run.
    card.click()
    expect(page.get_by_role("heading", name="themegen run report")).to_be_visible(timeout=30_000)
    expect_charts_drawn(page)
    page.set_viewport_size({"width": 1440, "height": 1000})
    expect_tables_fit(page)
    page.screenshot(path=SCREENSHOTS / f"report-artifact-{name}.png", full_page=True)
