"""A sample of at most `size` themes weighted by mentions, drawn in one pass over a stream of pages
(Efraimidis and Spirakis' A-Res: each item's key is u^(1/weight), the `size` largest keys win), so
the whole vocabulary is never held. Seeded: the same stream gives the same sample."""

from __future__ import annotations

import numpy as np


class WeightedSample:
    def __init__(self, size: int, dimensions: int, seed: int) -> None:
        self.size = size
        self._rng = np.random.default_rng(seed)
        self._keys = np.zeros(0, dtype=np.float64)
        self._vectors = np.zeros((0, dimensions), dtype=np.float32)
        self._weights = np.zeros(0, dtype=np.float64)

    def offer(self, vectors: np.ndarray, weights: np.ndarray) -> None:
        """Consider a page of items (unit vectors and their mentions)."""
        if len(vectors) == 0:
            return
        # log(u)/w orders as u^(1/w) without underflow for heavy items
        keys = np.log(self._rng.random(len(vectors))) / np.asarray(weights, dtype=np.float64)
        keys_all = np.concatenate([self._keys, keys])
        vectors_all = np.concatenate([self._vectors, vectors.astype(np.float32)])
        weights_all = np.concatenate([self._weights, weights])
        if len(keys_all) > self.size:
            keep = np.sort(np.argpartition(-keys_all, self.size - 1)[:self.size])
            keys_all, vectors_all, weights_all = keys_all[keep], vectors_all[keep], weights_all[keep]
        self._keys, self._vectors, self._weights = keys_all, vectors_all, weights_all

    def drawn(self) -> tuple[np.ndarray, np.ndarray]:
        """The sample's vectors and their mentions (k-means weighs them: centroids lean toward what
        is said most)."""
        return self._vectors, self._weights
