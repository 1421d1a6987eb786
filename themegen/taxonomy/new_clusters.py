"""The themes no existing canonical theme took: clustered on a sample, then every one of them assigned
to the new clusters from the spill, a page at a time (pure but for reading the spill)."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field

import numpy as np

from themegen.taxonomy.clustering import UNASSIGNED, assign, cluster, normalized
from themegen.taxonomy.sample import WeightedSample
from themegen.taxonomy.settings import TaxonomySettings
from themegen.taxonomy.spill import Spill

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def languages_of(texts: list[str]) -> list[str]:
    """The languages a cluster's members use: a name is asked in each ("en", "ja")."""
    found = [lang for lang, pattern in (("en", _LATIN), ("ja", _JAPANESE)) if any(pattern.search(t) for t in texts)]
    return found or ["en"]


@dataclass
class NewCluster:
    centroid: np.ndarray  # what themes are assigned by in this run
    mean: np.ndarray | None = None  # its members' weighted mean: the centroid stored
    mentions: int = 0
    themes: int = 0
    _top: list[tuple[int, str]] = field(default_factory=list)  # a min-heap of (mentions, theme), bounded

    def add(self, theme: str, mentions: int, keep: int) -> None:
        self.mentions += mentions
        self.themes += 1
        # ties broken by the string, reversed, so the kept members do not depend on page order
        item = (mentions, _reverse_order(theme))
        if len(self._top) < keep:
            heapq.heappush(self._top, item)
        elif item > self._top[0]:
            heapq.heapreplace(self._top, item)

    def top_members(self) -> list[str]:
        return [_reverse_order(key) for _, key in sorted(self._top, reverse=True)]


def _reverse_order(text: str) -> str:
    """An involution that reverses the string order of code points within the BMP (stable heap ties)."""
    return "".join(chr(0xFFFF - ord(c)) if ord(c) <= 0xFFFF else c for c in text)


def cluster_leftovers(spill: Spill, sample: WeightedSample, settings: TaxonomySettings) -> list[NewCluster]:
    """New clusters of the spilled themes (those with at least min_cluster_mentions), their members counted."""
    vectors, weights = sample.drawn()
    centroids = cluster(vectors, weights, first_pass_clusters=settings.first_pass_clusters,
                        merge_similarity=settings.merge_similarity, seed=settings.seed)
    # Two passes over the spill: clusters too small to be a theme are dropped first, so their themes
    # may still join a kept neighbour in the second.
    mass = np.zeros(len(centroids))
    for themes, page_vectors in spill:
        index, _ = assign(page_vectors, centroids, settings.assign_similarity)
        hit = index != UNASSIGNED
        np.add.at(mass, index[hit], np.array([m for _, m in themes], dtype=np.float64)[hit])
    kept = centroids[mass >= settings.min_cluster_mentions]
    return [NewCluster(centroid) for centroid in kept]


def count_members(spill: Spill, clusters: list[NewCluster], settings: TaxonomySettings) -> None:
    """Each cluster's members counted and its most-mentioned ones kept; its stored centroid becomes its
    members' weighted mean (where later runs compare new themes)."""
    centroids = centroids_of(clusters)
    sums = np.zeros_like(centroids, dtype=np.float64)
    for themes, page_vectors in spill:
        index, _ = assign(page_vectors, centroids, settings.assign_similarity)
        for (theme, mentions), i in zip(themes, index, strict=True):
            if i != UNASSIGNED:
                clusters[i].add(theme, mentions, settings.name_members)
        hit = index != UNASSIGNED
        weights = np.array([m for _, m in themes], dtype=np.float64)[hit]
        np.add.at(sums, index[hit], page_vectors[hit] * weights[:, None])
    for c, mean in zip(clusters, normalized(sums), strict=True):
        c.mean = mean if np.any(mean) else c.centroid


def assignments(spill: Spill, clusters: list[NewCluster], settings: TaxonomySettings):
    """Per spilled page, each theme's (theme, cluster index or UNASSIGNED, similarity), by the same
    centroids count_members used, so a theme is counted where it is mapped."""
    centroids = centroids_of(clusters)
    for themes, page_vectors in spill:
        index, similarity = assign(page_vectors, centroids, settings.assign_similarity)
        yield [(theme, int(i), float(score)) for (theme, _), i, score in zip(themes, index, similarity, strict=True)]


def centroids_of(clusters: list[NewCluster]) -> np.ndarray:
    """(clusters, dimensions); (0, 0) for none, which assign() takes as "no centroid fits"."""
    return np.stack([c.centroid for c in clusters]).astype(np.float32) if clusters else np.zeros((0, 0), np.float32)
