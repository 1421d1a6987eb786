"""The pure clustering: topics found without being told how many, the same clusters on every run,
themes far from every cluster left unassigned, and a weighted sample bounded by its size."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

from tests.themegen.taxonomy.synthetic import DIMENSIONS, around, themes, topics
from themegen.taxonomy.clustering import UNASSIGNED, assign, cluster, merge, normalized
from themegen.taxonomy.groups import group
from themegen.taxonomy.sample import WeightedSample

SETTINGS = {"first_pass_clusters": 60, "merge_similarity": 0.8, "seed": 0}


def test_twelve_topics_are_found_without_being_told_how_many():
    vectors, truth = themes(topics(12), per_topic=300)
    mentions = np.random.default_rng(3).integers(1, 50, size=len(vectors)).astype(float)

    centroids = cluster(vectors, mentions, **SETTINGS)
    found, similarity = assign(vectors, centroids, 0.7)

    assert len(centroids) == 12
    assert (found != UNASSIGNED).all() and similarity.min() > 0.75
    assert normalized_mutual_info_score(truth, found) > 0.99


def test_the_same_input_gives_the_same_clusters():
    vectors, _ = themes(topics(8), per_topic=200)
    weights = np.ones(len(vectors))
    first = cluster(vectors, weights, **SETTINGS)
    assert len(first) == 8 and np.array_equal(first, cluster(vectors.copy(), weights, **SETTINGS))


def test_a_theme_similar_to_no_centroid_is_left_unassigned_not_forced():
    centres = topics(3)
    outlier = topics(1, seed=99)[0]
    index, similarity = assign(np.array([centres[1], outlier], dtype=np.float32), centres.astype(np.float32), 0.7)
    assert list(index) == [1, UNASSIGNED] and similarity[0] > 0.99 and similarity[1] < 0.3
    index, _ = assign(np.array([outlier], dtype=np.float32), np.zeros((0, DIMENSIONS), dtype=np.float32), 0.7)
    assert list(index) == [UNASSIGNED]


def test_merge_joins_centroids_by_average_similarity_weighted_by_mass():
    centre = topics(1)[0]
    close = around(centre, 3, 0.95, seed=4)
    far = topics(1, seed=7)
    groups, merged = merge(normalized(np.concatenate([close, far])), np.array([1.0, 1.0, 8.0, 1.0]), 0.8)
    assert list(groups) == [0, 0, 0, 1] and len(merged) == 2
    assert merged[0] @ close[2] > merged[0] @ close[0]  # the heavy member pulls the centroid
    assert np.allclose(np.linalg.norm(merged, axis=1), 1, atol=1e-5)


def test_new_canonical_themes_join_a_close_existing_group_or_form_their_own():
    centres = topics(3)
    existing_groups = centres[:1].astype(np.float32)
    new = np.concatenate([around(centres[0], 1, 0.9, 5), around(centres[1], 2, 0.95, 6), around(centres[2], 1, 0.95, 7)])
    grouping = group(normalized(new), np.array([5, 5, 5, 5]), existing_groups, 0.6)
    assert grouping.existing == [0, UNASSIGNED, UNASSIGNED, UNASSIGNED]
    assert grouping.new == [UNASSIGNED, 0, 0, 1] and len(grouping.new_centroids) == 2


def test_the_weighted_sample_is_bounded_seeded_and_favours_frequent_themes():
    rng = np.random.default_rng(0)
    vectors = normalized(rng.normal(size=(5_000, 8)))
    weights = np.where(np.arange(5_000) < 100, 1_000.0, 1.0)  # 100 heavy themes

    def draw(seed: int) -> tuple[np.ndarray, np.ndarray]:
        sample = WeightedSample(500, 8, seed)
        for start in range(0, 5_000, 700):  # in pages, as the sink streams them
            sample.offer(vectors[start:start + 700], weights[start:start + 700])
        return sample.drawn()

    drawn, drawn_weights = draw(0)
    assert len(drawn) == 500 and (drawn_weights == 1_000).sum() == 100
    assert np.array_equal(drawn, draw(0)[0]) and not np.array_equal(drawn, draw(1)[0])
