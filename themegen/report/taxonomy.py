"""The report's taxonomy section: the top canonical themes by rows (table and chart), the share of
mentions left unclustered, and the embedding + naming cost beside the run's generation cost (pure)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from themegen.report.chart import GRID, INK, MUTED, markdown_image
from themegen.taxonomy.models import TaxonomyReport, TopTheme

CHART_TITLE = "Top canonical themes by rows"
CHART_BARS = 15
_WIDTH, _LABEL, _ROW = 720, 260, 22


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars - 1] + "…"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def cost_line(taxonomy: TaxonomyReport, generation_cost_usd: float | None) -> str:
    usage = (f"{taxonomy.embed_usage.calls:,} embedding calls ({taxonomy.embed_usage.input_tokens:,} tokens, "
             f"{taxonomy.embed_model}), {taxonomy.name_usage.calls:,} naming calls ({taxonomy.name_model})")
    if taxonomy.cost_usd is None:
        return f"Taxonomy cost: unknown (a model's price is not in the table); {usage}"
    share = (f", {_pct(taxonomy.cost_usd / generation_cost_usd)} of this run's generation cost "
             f"(${generation_cost_usd:.4f})" if generation_cost_usd else "")
    return f"Taxonomy cost: ${taxonomy.cost_usd:.6f} for {usage}{share}"


def top_chart(top: list[TopTheme], environment: str) -> str:
    """Horizontal bars: each top canonical theme's rows, labelled with its share."""
    shown = top[:CHART_BARS]
    peak = max((t.rows for t in shown), default=0) or 1
    height = 64 + _ROW * len(shown) + 12
    plot = _WIDTH - _LABEL - 90
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" '
         f'role="img" aria-label={quoteattr(CHART_TITLE)} font-family="sans-serif" font-size="11" fill="{INK}">'),
        f"<title>{escape(CHART_TITLE)}</title>",
        f'<rect width="{_WIDTH}" height="{height}" rx="6" fill="#ffffff"/>',
        f'<text x="16" y="22" font-size="15" font-weight="bold">{escape(CHART_TITLE)}</text>',
        f'<text x="16" y="40" fill="{MUTED}">{escape(f"measured in this run ({environment}) · rows with at least one theme in it")}</text>',
    ]
    for i, theme in enumerate(shown):
        y = 56 + i * _ROW
        width = plot * theme.rows / peak
        parts += [
            f'<text x="{_LABEL - 8}" y="{y + 14}" text-anchor="end">{escape(theme.name[:40])}</text>',
            f'<line x1="{_LABEL}" x2="{_LABEL + plot}" y1="{y + 18}" y2="{y + 18}" stroke="{GRID}"/>',
            f'<rect x="{_LABEL}" y="{y + 3}" width="{width:.1f}" height="{_ROW - 6}" fill="#2f6fdb"/>',
            f'<text x="{_LABEL + width + 6:.1f}" y="{y + 14}" fill="{MUTED}">{theme.rows:,} ({_pct(theme.share)})</text>',
        ]
    return "".join(parts) + "</svg>"


def taxonomy_markdown(taxonomy: TaxonomyReport, generation_cost_usd: float | None, environment: str) -> str:
    if not taxonomy.enabled:
        return f"## Canonical themes\n\nNot built ({taxonomy.why_not})."
    simulated = "simulated" in environment
    lines = ["## Canonical themes", ""]
    if simulated:
        lines += [f"Environment: **{environment}**: embeddings and names come from the **Gemini simulator** "
                  "(vectors placed by the sample data's known topics, names from their labels), not from a model.", ""]
    if taxonomy.error:
        lines += [f"Taxonomy failed: {taxonomy.error} (the themes are written; a rerun builds it).", ""]
    lines += [
        f"{taxonomy.canonical:,} canonical themes in {taxonomy.groups:,} groups ({taxonomy.new_canonical:,} new this run) "
        f"from {taxonomy.distinct_themes:,} distinct themes ({taxonomy.themes_embedded:,} embedded this run); "
        f"{_pct(taxonomy.unclustered_share)} of {taxonomy.mentions:,} theme mentions unclustered "
        f"(similar to no canonical theme, or not embedded).", ""]
    if taxonomy.embed_failures:
        lines += [f"Not embedded: {taxonomy.embed_failures:,} themes (e.g. {taxonomy.embed_failure_example}); "
                  "a rerun embeds them.", ""]
    if taxonomy.naming_failures:
        lines += [f"Not named: {taxonomy.naming_failures:,} clusters (e.g. {taxonomy.naming_failure_example}); "
                  "they show their most-mentioned member instead.", ""]
    if taxonomy.top:
        # Cells kept short: the Prefect UI lays a table out at its widest cell, and a wider table than the
        # page hides its last columns (tests/deployments/test_ui.py checks at 1440 px).
        lines += ["| canonical theme | group | rows (share) | examples |", "|---|---|---|---|"]
        lines += [f"| {_short(t.name, 28)} `{t.id}` | {_short(t.parent or '', 20)} | {t.rows:,} ({_pct(t.share)}) | "
                  f"{', '.join(_short(e, 14) for e in t.examples[:2])} |" for t in taxonomy.top]
        lines += ["", markdown_image(CHART_TITLE, top_chart(taxonomy.top, environment)), ""]
    lines += [cost_line(taxonomy, generation_cost_usd), ""]
    return "\n".join(lines).rstrip() + "\n"
