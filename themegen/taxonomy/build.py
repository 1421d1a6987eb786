"""Build (or extend) the taxonomy from what the sink holds: the step's whole path, through the ports.

1. the canonical themes already in the sink are loaded (their ids never change);
2. the distinct themes of the themes table are read a page at a time; those the mapping already has
   are skipped (never embedded again), the new ones are embedded and joined to the nearest existing
   canonical theme where they fit (mapped at once), the rest spilled to disk and sampled; when there
   were new ones, the themes left unclustered by earlier runs join them (vectors from the row cache);
3. the spilled themes are clustered (sample, then assign: themegen/taxonomy/new_clusters.py), new
   clusters get new ids after the highest existing one, and new groups (level 2) likewise;
4. only the new clusters are named, against their nearest neighbours' members;
5. new canonical themes are written, then the spilled themes' mappings (unclustered ones too, so they
   are not embedded again), then the sink counts rows and mentions per canonical theme.
A rerun on the same data therefore embeds nothing, names nothing and returns the same ids.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from themegen.sink import Sink
from themegen.taxonomy import ClusterName, ClusterToName, EmbedFailure, Embedder, InvalidName, Namer
from themegen.taxonomy.clustering import UNASSIGNED, assign, normalized
from themegen.taxonomy.groups import group
from themegen.taxonomy.models import CanonicalTheme, DistinctTheme, TaxonomyReport, ThemeMapping, TopTheme
from themegen.taxonomy.new_clusters import (NewCluster, assignments, cluster_leftovers, count_members,
                                            languages_of)
from themegen.taxonomy.sample import WeightedSample
from themegen.taxonomy.settings import TaxonomySettings
from themegen.taxonomy.spill import Pages, Spill

TOP_SHOWN = 20
NEIGHBOUR_MEMBERS = 5  # members of each neighbouring cluster shown to the namer


class TaxonomyError(RuntimeError):
    """The taxonomy cannot be built as configured; the message says what to do."""


def fingerprint(settings: TaxonomySettings) -> str:
    """What makes vectors comparable: the embedding model and its dimensions."""
    return hashlib.sha256(f"{settings.embed_model}/{settings.embed_dimensions}".encode()).hexdigest()[:16]


def _number(canonical_id: str) -> int:
    return int(canonical_id.rsplit("-", 1)[-1])


def _ids(prefix: str, existing: list[CanonicalTheme], count: int) -> list[str]:
    start = max((_number(c.id) for c in existing), default=0) + 1
    return [f"{prefix}-{n:05d}" for n in range(start, start + count)]


def matrix(rows: list, dimensions: int) -> np.ndarray:
    """Unit rows as a (len, dimensions) float32 matrix, also when there are none."""
    return normalized(np.array(rows, dtype=np.float32).reshape(len(rows), dimensions))


async def _embed(embedder: Embedder, texts: list[str], report: TaxonomyReport,
                 dimensions: int) -> tuple[list[int], np.ndarray]:
    """Indexes of the texts that got a vector, and those vectors (unit rows); failures are counted."""
    answers = await embedder.embed(texts)
    good = [i for i, answer in enumerate(answers) if not isinstance(answer, EmbedFailure)]
    for answer in answers:
        if isinstance(answer, EmbedFailure):
            report.embed_failures += 1
            report.embed_failure_example = report.embed_failure_example or str(answer)[:300]
    return good, matrix([answers[i] for i in good], dimensions)


async def build_taxonomy(settings: TaxonomySettings, sink: Sink, embedder: Embedder, namer: Namer) -> TaxonomyReport:
    started, report, stamp = time.monotonic(), TaxonomyReport(), fingerprint(settings)
    existing = await sink.canonical_themes()
    if stale := [c.id for c in existing if c.fingerprint != stamp]:
        raise TaxonomyError(
            f"{len(stale)} canonical themes (e.g. {stale[0]}) were built from other embeddings than "
            f"{settings.embed_model} at {settings.embed_dimensions} dimensions: set THEMEGEN_TAXONOMY_EMBED_MODEL / "
            "_EMBED_DIMENSIONS back, or empty the canonical themes and mapping tables to build anew")
    level1 = sorted((c for c in existing if c.level == 1), key=lambda c: c.id)
    level2 = sorted((c for c in existing if c.level == 2), key=lambda c: c.id)
    old = matrix([c.centroid for c in level1], settings.embed_dimensions)

    spill, sample = Spill(), WeightedSample(settings.sample_themes, settings.embed_dimensions, settings.seed)

    async def take(themes: list[DistinctTheme]) -> int:
        """Embed `themes`, map those that fit an existing canonical theme, spill and sample the rest; how
        many got a vector."""
        good, vectors = await _embed(embedder, [d.theme for d in themes], report, settings.embed_dimensions)
        fits, similarity = assign(vectors, old, settings.assign_similarity)
        await sink.write_mappings([ThemeMapping(theme=themes[i].theme, canonical_id=level1[j].id,
                                                similarity=float(s), fingerprint=stamp)
                                   for i, j, s in zip(good, fits, similarity, strict=True) if j != UNASSIGNED])
        left = fits == UNASSIGNED
        spill.add([(themes[i].theme, themes[i].mentions) for i, keep in zip(good, left, strict=True) if keep],
                  vectors[left])
        sample.offer(vectors[left], np.array([themes[i].mentions for i in good], dtype=np.float64)[left])
        return len(good)

    # Themes left unclustered earlier are reconsidered when new themes come (their vectors are in the row
    # cache): with more mentions, or new themes like them, they may fit or form a cluster now. Not on a
    # rerun with nothing new, whose ids must not move. Kept on disk and taken a page at a time: with a
    # vocabulary of millions, even a small unclustered share is more than a page.
    unclustered = Pages(settings.page_themes)
    try:
        async for page in sink.distinct_themes(settings.page_themes):
            report.distinct_themes += len(page)
            unclustered.add([(d.theme, d.mentions) for d in page if d.mapped and d.canonical_id is None])
            if new := [d for d in page if not d.mapped]:
                report.themes_embedded += await take(new)
        if report.themes_embedded:
            for left in unclustered:
                report.unclustered_reconsidered += await take(
                    [DistinctTheme(theme=theme, mentions=mentions, mapped=True) for theme, mentions in left])
        if spill.themes:
            await _add_clusters(settings, sink, namer, spill, sample, level1, level2, report, stamp)
    finally:
        spill.close()
        unclustered.close()
    await _count(sink, report)
    report.embed_usage, report.name_usage = embedder.usage, namer.usage
    report.seconds = time.monotonic() - started
    return report


async def _add_clusters(settings: TaxonomySettings, sink: Sink, namer: Namer, spill: Spill, sample: WeightedSample,
                        level1: list[CanonicalTheme], level2: list[CanonicalTheme], report: TaxonomyReport,
                        stamp: str) -> None:
    clusters = cluster_leftovers(spill, sample, settings)
    count_members(spill, clusters, settings)
    # Numbered by size (then top member), so the same themes give the same ids.
    order = sorted(range(len(clusters)), key=lambda i: (-clusters[i].mentions, clusters[i].top_members()[:1]))
    clusters = [clusters[i] for i in order if clusters[i].themes]
    ids = _ids("L1", level1, len(clusters))
    dimensions = settings.embed_dimensions
    grouping = group(matrix([c.mean for c in clusters], dimensions), np.array([c.mentions for c in clusters]),
                     matrix([g.centroid for g in level2], dimensions), settings.group_similarity)
    group_ids = _ids("L2", level2, len(grouping.new_centroids))
    parents = [level2[j].id if j != UNASSIGNED else group_ids[g]
               for j, g in zip(grouping.existing, grouping.new, strict=True)]
    new1 = [CanonicalTheme(id=i, level=1, parent_id=p, examples=c.top_members()[:settings.examples],
                           mentions=c.mentions, centroid=[float(x) for x in c.mean], fingerprint=stamp)
            for i, p, c in zip(ids, parents, clusters, strict=True)]
    new2 = [CanonicalTheme(id=gid, level=2, examples=[e for c in new1 if c.parent_id == gid for e in c.examples[:2]],
                           centroid=[float(x) for x in centroid], fingerprint=stamp)
            for gid, centroid in zip(group_ids, grouping.new_centroids, strict=True)]
    members = {i: c.top_members() for i, c in zip(ids, clusters, strict=True)}
    await _name(namer, new1, level1, members, settings, report)
    await _name(namer, new2, level2, {g.id: g.examples for g in new2}, settings, report)
    await sink.write_canonical(new1 + new2)
    report.new_canonical, report.new_groups = len(new1), len(new2)
    for page in assignments(spill, clusters, settings):
        await sink.write_mappings([ThemeMapping(theme=theme, canonical_id=ids[i] if i != UNASSIGNED else None,
                                                similarity=score, fingerprint=stamp) for theme, i, score in page])


async def _name(namer: Namer, new: list[CanonicalTheme], old: list[CanonicalTheme], members: dict[str, list[str]],
                settings: TaxonomySettings, report: TaxonomyReport) -> None:
    """Names for the new clusters, each against the members of its nearest other clusters (old or new)."""
    if not new:
        return
    everyone = new + old
    centroids = normalized(np.array([c.centroid for c in everyone], dtype=np.float32))
    similar = centroids[:len(new)] @ centroids.T
    asks = []
    for i, cluster in enumerate(new):
        nearest = [j for j in np.argsort(-similar[i], kind="stable") if j != i][:settings.name_neighbours]
        neighbours = [m for j in nearest for m in (members.get(everyone[j].id) or everyone[j].examples)[:NEIGHBOUR_MEMBERS]]
        asks.append(ClusterToName(id=cluster.id, members=members[cluster.id], neighbours=neighbours,
                                  languages=languages_of(members[cluster.id])))
    names = await namer.name(asks)
    for cluster in new:
        answer = names.get(cluster.id, InvalidName("no answer for this cluster"))
        if isinstance(answer, ClusterName):
            cluster.name_en, cluster.name_ja = answer.en, answer.ja
            report.clusters_named += 1
        else:
            report.naming_failures += 1
            report.naming_failure_example = report.naming_failure_example or f"{cluster.id}: {str(answer)[:300]}"


async def _count(sink: Sink, report: TaxonomyReport) -> None:
    """Rows and mentions per canonical theme, counted by the sink over the themes table and the mapping."""
    counts = await sink.count_canonical()
    await sink.write_counts(counts.by_id)
    everything = await sink.canonical_themes()
    names = {c.id: c.name for c in everything}
    report.canonical = sum(c.level == 1 for c in everything)
    report.groups = sum(c.level == 2 for c in everything)
    report.rows_with_themes, report.mentions, report.mentions_mapped = (
        counts.rows_with_themes, counts.mentions, counts.mentions_mapped)
    top = sorted((c for c in everything if c.level == 1), key=lambda c: (-counts.by_id.get(c.id, (0, 0))[0], c.id))
    report.top = [TopTheme(id=c.id, name=c.name, parent=names.get(c.parent_id) if c.parent_id else None,
                           rows=counts.by_id.get(c.id, (0, 0))[0], mentions=counts.by_id.get(c.id, (0, 0))[1],
                           share=counts.by_id.get(c.id, (0, 0))[0] / counts.rows_with_themes if counts.rows_with_themes else 0.0,
                           examples=c.examples) for c in top[:TOP_SHOWN]]
