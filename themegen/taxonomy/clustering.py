"""Clustering unit vectors into canonical themes (pure, seeded: the same input gives the same output).

Why this algorithm: the number of canonical themes is not known in advance, and the vocabulary can
be millions of strings. Agglomerative clustering finds the number itself (a similarity threshold
instead of a k) but needs memory quadratic in its input; mini-batch k-means is linear but needs a k.
So the sample is first over-clustered with mini-batch k-means (k well above the themes expected),
then the k centroids, a few hundred points, are merged by average-linkage agglomerative clustering
at a cosine threshold. Every theme is then assigned to its nearest merged centroid in chunks
(`assign`), so only the sample and one chunk are ever in memory (sample-then-assign, as BERTopic's
maintainers advise for large corpora). HDBSCAN was not chosen: it needs the whole input at once.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering, MiniBatchKMeans

ASSIGN_CHUNK = 4_096  # themes compared with every centroid at once: chunk x centroids floats
# k-means clusters of a few themes keep their members' noise, and two of one topic then look less
# similar than the merge threshold; about ten themes each average it out (measured on the simulator's
# 30,000-row sample: k = themes/10 found its topics with NMI 0.99, k = themes/1.6 only 0.80).
THEMES_PER_FIRST_PASS_CLUSTER = 10
UNASSIGNED = -1


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def assign(vectors: np.ndarray, centroids: np.ndarray, min_similarity: float) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's nearest centroid (cosine) and that similarity; UNASSIGNED below min_similarity."""
    index = np.full(len(vectors), UNASSIGNED, dtype=np.int64)
    similarity = np.zeros(len(vectors), dtype=np.float32)
    if len(centroids) == 0:
        return index, similarity
    for start in range(0, len(vectors), ASSIGN_CHUNK):
        chunk = vectors[start:start + ASSIGN_CHUNK] @ centroids.T
        best = chunk.argmax(axis=1)
        score = chunk[np.arange(len(chunk)), best]
        index[start:start + len(chunk)] = np.where(score >= min_similarity, best, UNASSIGNED)
        similarity[start:start + len(chunk)] = score
    return index, similarity


def merge(centroids: np.ndarray, weights: np.ndarray, min_similarity: float) -> tuple[np.ndarray, np.ndarray]:
    """Groups of centroids whose average cosine similarity is at least min_similarity: (group of each
    centroid, the groups' weighted-mean unit centroids). Groups are numbered by first member."""
    if len(centroids) == 1:
        return np.zeros(1, dtype=np.int64), normalized(centroids)
    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=1 - min_similarity).fit_predict(centroids)
    _, first = np.unique(labels, return_index=True)
    order = {label: rank for rank, label in enumerate(labels[np.sort(first)])}
    groups = np.array([order[label] for label in labels], dtype=np.int64)
    sums = np.zeros((len(order), centroids.shape[1]), dtype=np.float64)
    np.add.at(sums, groups, centroids * weights[:, None])
    return groups, normalized(sums)


def cluster(vectors: np.ndarray, weights: np.ndarray, *, first_pass_clusters: int, merge_similarity: float,
            seed: int) -> np.ndarray:
    """Unit centroids of the clusters of `vectors` (unit rows, each weighing its mentions): k-means
    over-clustering, then merged by similarity (module docstring)."""
    if len(vectors) == 0:
        return np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32)
    distinct = len(np.unique(vectors, axis=0))
    if distinct < 2:
        return normalized(vectors[:1])
    k = min(first_pass_clusters, max(2, distinct // THEMES_PER_FIRST_PASS_CLUSTER))
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4_096, max_iter=100)
    labels = kmeans.fit_predict(vectors, sample_weight=weights)
    mass = np.bincount(labels, weights=weights, minlength=k)
    used = mass > 0
    _, merged = merge(normalized(kmeans.cluster_centers_[used]), mass[used], merge_similarity)
    return merged
