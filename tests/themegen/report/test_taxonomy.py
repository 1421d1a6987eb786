"""The report's canonical-themes section: the top themes with rows, share and examples, a chart, the
unclustered share, and the taxonomy's cost as a share of the run's generation cost."""

from __future__ import annotations

import base64
import re

from themegen.domain.models import LlmUsage
from themegen.report.taxonomy import CHART_TITLE, taxonomy_markdown
from themegen.taxonomy.models import TaxonomyReport, TopTheme


def report(**changes) -> TaxonomyReport:
    changes = {"cost_usd": 0.003, **changes}
    top = [TopTheme(id="L1-00001", name="delivery / 配送", parent="orders", rows=900, mentions=1_500, share=0.3,
                    examples=["late delivery", "配送の遅れ", "courier", "parcel"]),
           TopTheme(id="L1-00002", name="billing", rows=300, mentions=320, share=0.1, examples=["refund"])]
    return TaxonomyReport(distinct_themes=329, themes_embedded=329, new_canonical=2, canonical=2, groups=1,
                          rows_with_themes=3_000, mentions=18_000, mentions_mapped=17_100, top=top,
                          embed_usage=LlmUsage(calls=4, input_tokens=1_336), name_usage=LlmUsage(calls=2),
                          embed_model="gemini-embedding-001", name_model="gemini-2.5-flash", **changes)


def test_the_top_themes_are_a_table_and_a_chart_with_the_unclustered_share_and_cost():
    markdown = taxonomy_markdown(report(), generation_cost_usd=3.0, environment="local-simulated")

    assert "| delivery / 配送 `L1-00001` | orders | 900 (30.0%) | late delivery, 配送の遅れ |" in markdown
    assert "| billing `L1-00002` |  | 300 (10.0%) | refund |" in markdown
    assert "5.0% of 18,000 theme mentions unclustered" in markdown
    assert "Taxonomy cost: $0.003000 for 4 embedding calls (1,336 tokens, gemini-embedding-001)" in markdown
    assert "0.1% of this run's generation cost ($3.0000)" in markdown
    assert "**Gemini simulator**" in markdown
    svg = base64.b64decode(re.search(rf"!\[{CHART_TITLE}\]\(data:image/svg\+xml;base64,([^)]+)\)", markdown)[1]).decode()
    assert "delivery / 配送" in svg and "900 (30.0%)" in svg and "local-simulated" in svg


def test_what_went_wrong_is_said_and_a_real_run_is_not_called_simulated():
    markdown = taxonomy_markdown(report(error="SinkUnavailable: Spanner down", embed_failures=3,
                                        embed_failure_example="400: too long", cost_usd=None), None, "GCP")
    assert "Taxonomy failed: SinkUnavailable: Spanner down" in markdown
    assert "Not embedded: 3 themes (e.g. 400: too long)" in markdown
    assert "Taxonomy cost: unknown" in markdown and "simulator" not in markdown
    assert taxonomy_markdown(TaxonomyReport(enabled=False, why_not="THEMEGEN_TAXONOMY_ENABLED=false"), None, "GCP") == (
        "## Canonical themes\n\nNot built (THEMEGEN_TAXONOMY_ENABLED=false).")
