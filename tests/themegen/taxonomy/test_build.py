"""build_taxonomy through its ports, with the sink's taxonomy tables in memory and synthetic vectors:
what a later run does with themes an earlier one left unclustered."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tests.themegen.taxonomy.synthetic import DIMENSIONS, around, topics
from themegen.domain.models import LlmUsage
from themegen.taxonomy import ClusterName
from themegen.taxonomy.build import build_taxonomy
from themegen.taxonomy.models import CanonicalCounts, DistinctTheme
from themegen.taxonomy.settings import TaxonomySettings

SETTINGS = TaxonomySettings(embed_dimensions=DIMENSIONS, page_themes=100)


class MemorySink:
    """The Sink port's taxonomy methods over a dict of theme mentions."""

    def __init__(self) -> None:
        self.mentions: dict[str, int] = {}
        self.canonical: dict = {}
        self.mapping: dict[str, str | None] = {}

    async def canonical_themes(self):
        return list(self.canonical.values())

    async def distinct_themes(self, page_themes: int):
        items = sorted(self.mentions.items())
        for start in range(0, len(items), page_themes):
            yield [DistinctTheme(theme=t, mentions=n, mapped=t in self.mapping, canonical_id=self.mapping.get(t))
                   for t, n in items[start:start + page_themes]]

    async def write_canonical(self, themes) -> None:
        self.canonical.update({c.id: c for c in themes})

    async def write_mappings(self, mappings) -> None:
        self.mapping.update({m.theme: m.canonical_id for m in mappings})

    async def count_canonical(self) -> CanonicalCounts:
        by_id = Counter()
        for theme, n in self.mentions.items():
            if self.mapping.get(theme):
                by_id[self.mapping[theme]] += n
        total = sum(self.mentions.values())
        return CanonicalCounts(by_id={i: (n, n) for i, n in by_id.items()}, rows_with_themes=total, mentions=total,
                               mentions_mapped=sum(by_id.values()))

    async def write_counts(self, counts) -> None:
        for i, (rows, mentions) in counts.items():
            self.canonical[i] = self.canonical[i].model_copy(update={"rows": rows, "mentions": mentions})


class Vectors:
    """The embedder: each theme's synthetic vector; counts the texts it is asked for."""

    def __init__(self) -> None:
        self.of: dict[str, np.ndarray] = {}
        self.usage, self.asked = LlmUsage(), 0

    async def embed(self, texts):
        self.asked += len(texts)
        return [list(map(float, self.of[t])) for t in texts]


class Names:
    usage = LlmUsage()

    async def name(self, clusters):
        return {c.id: ClusterName(en=f"about {c.members[0]}") for c in clusters}


def add_topic(sink: MemorySink, vectors: Vectors, name: str, centre: np.ndarray, count: int, mentions: int,
              seed: int) -> list[str]:
    themes = [f"{name} {i}" for i in range(count)]
    for theme, vector in zip(themes, around(centre, count, 0.9, seed), strict=True):
        sink.mentions[theme], vectors.of[theme] = mentions, vector
    return themes


async def test_themes_left_unclustered_join_a_cluster_once_new_themes_like_them_come():
    sink, vectors, names = MemorySink(), Vectors(), Names()
    a, b = topics(2)
    add_topic(sink, vectors, "delivery", a, 30, 10, seed=1)
    rare = add_topic(sink, vectors, "gift", b, 2, 1, seed=2)  # 2 mentions: too few for a cluster of its own

    await build_taxonomy(SETTINGS, sink, vectors, names)
    assert all(sink.mapping[t] is None for t in rare)
    first = (dict(sink.mapping), {i: c.centroid for i, c in sink.canonical.items()})

    # Nothing new: nothing embedded, nothing reconsidered, nothing moves.
    vectors.asked = 0
    again = await build_taxonomy(SETTINGS, sink, vectors, names)
    assert vectors.asked == 0 and again.unclustered_reconsidered == 0
    assert (sink.mapping, {i: c.centroid for i, c in sink.canonical.items()}) == first

    # New themes of the rare topic: they form its cluster, and the two left out before join it.
    add_topic(sink, vectors, "gift new", b, 20, 5, seed=3)
    grown = await build_taxonomy(SETTINGS, sink, vectors, names)
    assert grown.unclustered_reconsidered == 2
    assert {t: sink.mapping[t] for t in first[0] if first[0][t]} == {t: i for t, i in first[0].items() if i}
    gift = {sink.mapping[t] for t in sink.mentions if t.startswith("gift")}
    assert len(gift) == 1 and None not in gift and gift.isdisjoint(first[0].values())


async def test_themes_left_unclustered_are_reconsidered_a_page_at_a_time():
    """With a vocabulary of millions, even a small unclustered share is more than a page: it must not be
    held, nor embedded, all at once."""
    sink, vectors, names = MemorySink(), Vectors(), Names()
    sizes: list[int] = []
    embed = vectors.embed

    async def counted(texts):
        sizes.append(len(texts))
        return await embed(texts)

    vectors.embed = counted
    centres = topics(3)
    add_topic(sink, vectors, "delivery", centres[0], 30, 10, seed=1)
    # 250 themes of one mention each, every one its own direction: left unclustered (2.5 pages)
    for i, vector in enumerate(topics(250, seed=7)):
        sink.mentions[f"noise {i}"], vectors.of[f"noise {i}"] = 1, vector
    await build_taxonomy(SETTINGS, sink, vectors, names)
    assert sum(sink.mapping[f"noise {i}"] is None for i in range(250)) == 250

    sizes.clear()
    add_topic(sink, vectors, "gift", centres[1], 20, 5, seed=3)
    grown = await build_taxonomy(SETTINGS, sink, vectors, names)
    assert grown.unclustered_reconsidered == 250
    assert sum(sizes) == 20 + 250 and max(sizes) <= SETTINGS.page_themes
