"""Synthetic theme vectors for the pure functions' tests: topics as random unit centres in 256
dimensions, their themes scattered around them at a chosen cosine similarity (seeded)."""

from __future__ import annotations

import numpy as np

DIMENSIONS = 256


def topics(count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count, DIMENSIONS))
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def around(centre: np.ndarray, count: int, similarity: float, seed: int) -> np.ndarray:
    """`count` unit vectors whose cosine similarity to `centre` is about `similarity`."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(count, len(centre)))
    noise -= np.outer(noise @ centre, centre)  # orthogonal to the centre
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return (similarity * centre + np.sqrt(1 - similarity ** 2) * noise).astype(np.float32)


def themes(centres: np.ndarray, per_topic: int, similarity: float = 0.85, seed: int = 2):
    """(vectors, topic of each) for per_topic themes around each centre."""
    vectors = [around(c, per_topic, similarity, seed + i) for i, c in enumerate(centres)]
    return np.concatenate(vectors), np.repeat(np.arange(len(centres)), per_topic)
