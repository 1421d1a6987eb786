"""The second level: new canonical themes join an existing group they are close to, and the rest are
grouped among themselves by the same average-linkage merge as the first level (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from themegen.taxonomy.clustering import UNASSIGNED, assign, merge, normalized


@dataclass(frozen=True)
class Grouping:
    existing: list[int]  # per new canonical theme: the index of the existing group it joins, or UNASSIGNED
    new: list[int]  # per new canonical theme: the index of its new group, or UNASSIGNED (it joined one)
    new_centroids: np.ndarray  # of the new groups


def group(centroids: np.ndarray, mentions: np.ndarray, group_centroids: np.ndarray,
          min_similarity: float) -> Grouping:
    """Parents for new canonical themes (unit centroids, weighed by mentions) among existing groups'
    centroids, and new groups for those close to none."""
    joined, _ = assign(centroids, group_centroids, min_similarity)
    alone = np.flatnonzero(joined == UNASSIGNED)
    new = np.full(len(centroids), UNASSIGNED, dtype=np.int64)
    new_centroids = np.zeros((0, centroids.shape[1]), dtype=np.float32)
    if len(alone):
        labels, new_centroids = merge(normalized(centroids[alone]), mentions[alone].astype(np.float64),
                                      min_similarity)
        new[alone] = labels
    return Grouping([int(i) for i in joined], [int(i) for i in new], new_centroids)
