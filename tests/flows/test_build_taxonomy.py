"""The taxonomy end to end on the local stack: the 30,000-row sample themed by the simulator (K = 10),
its distinct themes embedded by the simulator (vectors placed by the sample's known topics), clustered,
named and mapped in Spanner. What is checked is counted without our code: the mapping and canonical
tables read with Spanner's own client, the simulator's own call counters, its ground truth
`topic_of_theme`, and NMI from scikit-learn."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sklearn.metrics import normalized_mutual_info_score

from flows.generate_themes import generate_themes
from local_stack.bigquery import bigquery_client, seed_table
from local_stack.gemini_sim import topic_of_theme
from local_stack.gemini_sim.vectors import FAMILY
from local_stack.sample_data import NEW_TOPICS, generate_rows
from tests.conftest import SpannerTables
from tests.flows.test_bad_input import report_markdown
from themegen.config.settings import Settings
from themegen.pricing.cost import cost_usd

SAMPLE_ROWS, NEW_ROWS = 30_000, 3_000
# The README's "top themes by rows, with examples" query, run here as written there.
TOP_QUERY = """SELECT c.CanonicalId, c.NameEn, c.NameJa, COUNT(DISTINCT t.SourceId) AS row_count,
       ANY_VALUE(c.Examples) AS examples
FROM Themes AS t CROSS JOIN UNNEST(t.Themes) AS theme
JOIN ThemeCanonicalMap AS m ON m.Theme = theme
JOIN CanonicalThemes AS c ON c.CanonicalId = m.CanonicalId
GROUP BY c.CanonicalId, c.NameEn, c.NameJa
ORDER BY row_count DESC, c.CanonicalId
LIMIT 20"""
MAP = "SELECT Theme, CanonicalId FROM ThemeCanonicalMap"
CANONICAL = ("SELECT CanonicalId, Level, ParentId, NameEn, NameJa, Examples, Centroid, SettingsFingerprint "
             "FROM CanonicalThemes ORDER BY CanonicalId")


@pytest.fixture
def sample(stack, monkeypatch):
    seed_rows(stack, list(generate_rows(SAMPLE_ROWS)))
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", "taxonomy_sample")
    monkeypatch.setenv("THEMEGEN_TAXONOMY_EMBED_TPM", "1000000000")  # throughput is the bench's business
    SpannerTables(stack).clear_outputs()


def seed_rows(stack, rows: list[dict]) -> None:
    client = bigquery_client(stack.config.project, stack.env["THEMEGEN_BQ_API_ENDPOINT"])
    seed_table(client, f"{stack.config.project}.{stack.config.dataset}.taxonomy_sample", rows)


def mentions(stack) -> Counter[str]:
    """Theme string -> mentions, from the Themes table (Spanner's client, not the sink adapter)."""
    return Counter(theme for (themes,) in stack.read_table("SELECT t.Themes FROM Themes AS t") for theme in themes)


def nmi(mapping: dict[str, str | None], counted: Counter[str]) -> tuple[float, float]:
    """NMI of canonical ids vs the simulator's topics over the mapped themes: per distinct theme, and
    per mention."""
    mapped = [t for t, c in mapping.items() if c is not None]
    truth, found = [topic_of_theme(t) or "none" for t in mapped], [mapping[t] for t in mapped]
    per_mention = ([x for t, x in zip(mapped, truth) for _ in range(counted[t])],
                   [x for t, x in zip(mapped, found) for _ in range(counted[t])])
    return normalized_mutual_info_score(truth, found), normalized_mutual_info_score(*per_mention)


def family_nmi(mapping: dict[str, str | None], counted: Counter[str], group_of: dict[str, str]) -> float:
    """NMI of the canonical themes' groups vs the family of each canonical theme's majority topic (the
    simulator's related topics): the second level gathers what is related."""
    topics: dict[str, Counter[str]] = {}
    for theme, canonical_id in mapping.items():
        if canonical_id:
            topics.setdefault(canonical_id, Counter())[topic_of_theme(theme) or "none"] += counted[theme]
    ids = sorted(group_of)
    family = [FAMILY.get(topic, topic) for topic in (topics[i].most_common(1)[0][0] for i in ids)]
    return normalized_mutual_info_score(family, [group_of[i] for i in ids])


async def test_canonical_themes_match_the_sample_topics_stay_put_and_grow_with_a_new_topic(stack, sample, tmp_path):
    summary = await generate_themes(rows_per_request=10)
    stats = stack.sim("stats")

    counted, mapping = mentions(stack), dict(stack.read_table(MAP))
    assert set(mapping) == set(counted)  # every distinct theme embedded and mapped (or counted unclustered)
    mapped_share = sum(n for t, n in counted.items() if mapping[t]) / sum(counted.values())
    per_theme, per_mention = nmi(mapping, counted)
    print(f"distinct {len(counted)}, mapped {mapped_share:.4f}, NMI {per_theme:.3f} / {per_mention:.3f} per mention, "
          f"embed {stats['embed']}, naming {stats['naming']}")
    assert mapped_share >= 0.90 and per_theme >= 0.8 and per_mention >= 0.8
    canonical = stack.read_table(CANONICAL)
    levels = Counter(row[1] for row in canonical)
    assert 2 <= levels[2] <= levels[1] / 2  # groups of related canonical themes (the simulator's topic families)
    assert all(row[2] for row in canonical if row[1] == 1)  # every canonical theme has a group
    groups = family_nmi(mapping, counted, {row[0]: row[2] for row in canonical if row[1] == 1})
    print(f"groups vs the simulator's topic families: NMI {groups:.3f}")
    assert groups >= 0.8
    assert stats["embed"]["texts"] == len(counted) and stats["naming"]["clusters_named"] == len(canonical)
    top = stack.read_table(TOP_QUERY)
    assert TOP_QUERY in (Path(__file__).parents[2] / "README.md").read_text()
    stored = {row[0]: row for row in stack.read_table("SELECT CanonicalId, RowCount, NameEn, Examples FROM CanonicalThemes")}
    assert top and all(stored[i][1] == rows and stored[i][2] == en and stored[i][3] == examples
                       for i, en, _, rows, examples in top)
    print("top:", [(row[1], row[3]) for row in top[:5]])

    # Embedding and naming cost beside generation's, counted from the simulator's token counters.
    settings = Settings()
    spent = (cost_usd(settings.taxonomy.embed_model, stats["embed"]["input_tokens"], 0)
             + cost_usd(settings.model, stats["naming"]["input_tokens"], stats["naming"]["output_tokens"]))
    print(f"taxonomy ${spent:.6f} vs generation ${summary.cost_usd:.4f}: {100 * spent / summary.cost_usd:.3f}%")
    assert spent <= 0.05 * summary.cost_usd
    report = await report_markdown(summary.flow_run_id)
    assert "## Canonical themes" in report and "of this run's generation cost" in report
    assert "Gemini simulator" in report and "Top canonical themes by rows" in report

    # A rerun on the same data (`themegen taxonomy`, the flow alone): no embedding, no naming, the same
    # ids and mapping.
    stack.sim("reset", {})
    again = subprocess.run([sys.executable, "-m", "themegen.cli.app", "taxonomy"], capture_output=True, text=True,
                           env={**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path), "COLUMNS": "200"}, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Top canonical themes" in again.stdout and "0 embedded now, 0 new canonical themes" in again.stdout
    stats = stack.sim("stats")
    assert (stats["embed"]["requests"], stats["naming"]["requests"]) == (0, 0)
    assert stack.read_table(CANONICAL) == canonical and dict(stack.read_table(MAP)) == mapping

    # 3,000 rows of a topic the sample never had: old ids untouched, the new topic gets its own.
    seed_rows(stack, [*generate_rows(SAMPLE_ROWS), *generate_rows(NEW_ROWS, seed=7, topics=NEW_TOPICS,
                                                                    first_id=SAMPLE_ROWS + 1)])
    await generate_themes(rows_per_request=10)
    counted, grown = mentions(stack), dict(stack.read_table(MAP))
    # Every mapped theme keeps its id (themes unclustered before are reconsidered with the new ones).
    assert {t: grown[t] for t in mapping if mapping[t]} == {t: i for t, i in mapping.items() if i}
    after = stack.read_table(CANONICAL)
    assert [row for row in after if row[0] in {r[0] for r in canonical}] == canonical
    new_ids = {row[0] for row in after if row[1] == 1} - {row[0] for row in canonical}
    topic_mentions = Counter()
    for theme, canonical_id in grown.items():
        if canonical_id in new_ids:
            topic_mentions[topic_of_theme(theme)] += counted[theme]
    gift = sum(n for t, n in counted.items() if topic_of_theme(t) == NEW_TOPICS[0])
    assert topic_mentions.most_common(1)[0][0] == NEW_TOPICS[0]
    assert topic_mentions[NEW_TOPICS[0]] >= 0.9 * gift


async def test_a_taxonomy_that_cannot_be_built_is_reported_and_the_themes_stay(stack, monkeypatch):
    SpannerTables(stack).clear_outputs()
    first = await generate_themes(rows_limit=100)
    assert stack.read_table("SELECT COUNT(*) FROM CanonicalThemes")[0][0] > 0

    # Vectors of another size cannot be compared with the stored centroids: the step says so and stops.
    monkeypatch.setenv("THEMEGEN_TAXONOMY_EMBED_DIMENSIONS", "128")
    stack.sim("reset", {})
    second = await generate_themes(rows_limit=150)

    assert second.rows_succeeded >= first.rows_succeeded and second.rows_answered > 0  # the themes are written
    assert stack.sim("stats")["embed"]["requests"] == 0
    report = await report_markdown(second.flow_run_id)
    assert "Taxonomy failed: TaxonomyError:" in report and "THEMEGEN_TAXONOMY_EMBED_MODEL" in report


async def test_the_taxonomy_is_built_in_either_sink(sink):
    sink.clear_outputs()
    summary = await generate_themes(rows_limit=100)

    themes = {theme for row in sink.themes().values() for theme in row.themes}
    mapping_sql, canonical_sql = {
        "spanner": ("SELECT Theme, CanonicalId FROM ThemeCanonicalMap", "SELECT CanonicalId, Level FROM CanonicalThemes"),
        "postgres": ("SELECT theme, canonical_id FROM theme_canonical_map",
                     "SELECT canonical_id, level FROM canonical_themes"),
    }[sink.name]
    mapping, canonical = dict(sink.rows(mapping_sql)), dict(sink.rows(canonical_sql))
    assert summary.rows_succeeded > 0 and set(mapping) == themes
    assert {mapping[t] for t in themes if mapping[t]} <= {i for i, level in canonical.items() if level == 1}
    assert set(canonical.values()) == {1, 2}
    assert "## Canonical themes" in await report_markdown(summary.flow_run_id)
