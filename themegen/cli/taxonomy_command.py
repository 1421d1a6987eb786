"""`themegen taxonomy`: the build-taxonomy flow in this process, on what the sink holds, and its top
canonical themes as a table."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from themegen.taxonomy.models import TaxonomyReport


def run_taxonomy() -> TaxonomyReport:
    from flows.build_taxonomy import build_taxonomy_flow

    return asyncio.run(build_taxonomy_flow())


def show(console: Console, report: TaxonomyReport) -> None:
    table = Table(title=f"Top canonical themes ({report.canonical:,} in {report.groups:,} groups)")
    for column in ("#", "canonical theme", "group", "rows", "share", "examples"):
        table.add_column(column, justify="right" if column in ("#", "rows", "share") else "left")
    for i, theme in enumerate(report.top, 1):
        table.add_row(str(i), f"{theme.name} ({theme.id})", theme.parent or "", f"{theme.rows:,}",
                      f"{100 * theme.share:.1f}%", ", ".join(theme.examples[:3]))
    console.print(table)
    cost = "unknown" if report.cost_usd is None else f"${report.cost_usd:.6f}"
    console.print(f"{report.distinct_themes:,} distinct themes, {report.themes_embedded:,} embedded now, "
                  f"{report.new_canonical:,} new canonical themes; {100 * report.unclustered_share:.1f}% of "
                  f"{report.mentions:,} mentions unclustered; embedding + naming {cost} "
                  f"({report.embed_usage.calls:,} + {report.name_usage.calls:,} calls)")
