"""build_taxonomy: the taxonomy step alone, on what the sink holds (after a run, or to rebuild names
and counts): distinct themes -> embeddings -> canonical themes and groups -> names -> mapping.

Steps:
1. build_taxonomy  - only themes the mapping lacks are embedded and only new clusters named, so a rerun
                     on the same themes costs nothing and keeps every id
2. an artifact     - the report's taxonomy section (top canonical themes, unclustered share, cost)
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from blocks.themegen_config import resolve_settings
from tasks.build_taxonomy import build_taxonomy
from themegen.report.best_effort import best_effort
from themegen.report.taxonomy import taxonomy_markdown
from themegen.taxonomy.models import TaxonomyReport


@flow(name="build-taxonomy", log_prints=True)
async def build_taxonomy_flow(config_block: str | None = None) -> TaxonomyReport:
    """config_block: a ThemegenConfig block whose settings override the THEMEGEN_* environment."""
    settings = await resolve_settings(config_block)
    report = await build_taxonomy(settings.with_overrides(taxonomy_enabled=True))
    await best_effort("taxonomy artifact", lambda: acreate_markdown_artifact(
        key="themegen-taxonomy", markdown=taxonomy_markdown(report, None, settings.stack or "GCP"),
        description="canonical themes"), 4)
    if report.error:
        raise RuntimeError(report.error)  # alone, the taxonomy is the run: its failure fails it
    return report
