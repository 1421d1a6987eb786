"""The compare flow's steps: two configurations on the same seeded rows (themegen/quality/comparing.py),
and the comparison as a Prefect artifact (key themegen-comparison)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from themegen.config.settings import Settings
from themegen.llm.gemini.client import close_clients
from themegen.quality.comparing import Comparison, compare
from themegen.quality.comparison_report import comparison_lines, comparison_markdown
from themegen.report.best_effort import best_effort

ARTIFACT = "themegen-comparison"


@task(name="compare-sides", cache_policy=NO_CACHE)
async def compare_sides(settings_a: Settings, settings_b: Settings, rows: int, look: int, seed: int) -> Comparison:
    try:
        comparison = await compare(settings_a, settings_b, rows, look, seed)
    finally:
        await close_clients()
    print("\n".join(comparison_lines(comparison)))
    return comparison


@task(name="publish-comparison", cache_policy=NO_CACHE)
async def publish_comparison(comparison: Comparison) -> None:
    await best_effort("comparison artifact", lambda: acreate_markdown_artifact(
        key=ARTIFACT, markdown=comparison_markdown(comparison), description=comparison.advice[:500]))
