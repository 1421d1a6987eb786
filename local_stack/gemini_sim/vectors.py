"""The simulator's embeddings: deterministic vectors in which themes of one sample topic lie close.

The sample feedback's topics are known (local_stack/sample_data.py writes every sentence from a topic's
templates), so the simulator knows which topic a theme string comes from: `topic_of_theme` is the
ground truth a clustering is measured against (normalized mutual information). A theme's topic is
found, in this order, from
1. the labels the simulated model gives (topics.py: an area's labels in English and Japanese; the
   generic labels are a topic of their own);
2. the phrases the simulator lifts from each topic's template sentences, with every slot filled
   (phrases.py, the same extraction as the themes): a phrase written by one topic only is that
   topic's; a product, device or screen name (a slot value) is a topic of its own ("products"...);
   the context, opener and closer sentences are topics of their own too;
3. the signal words of exactly one area (topics.py), in either language.
Anything else has no topic (None).

A vector is normalize(topic centre + a small shift per language + text-seeded noise): paraphrases
and translations of one topic lie close, other topics far (related topics, e.g. the app's, a little
closer: their centres share a family direction), and a theme of no topic gets a text-seeded random
direction, far from all. Every draw is seeded by sha256, never `hash()`, so the same text gives the
same vector in every process. Vectors have gemini-embedding-001's 3,072 dimensions; a request for
fewer gets the first N values, not normalized again, as the real model's Matryoshka truncation.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np

from local_stack.sample_data import topic_sentences

from .phrases import sentence_phrases, split_sentences
from .topics import label_topics, language, sentence_topics

DIMENSIONS = 3072
NOISE = 0.6  # same-topic themes: cosine about 1 / (1 + NOISE²) apart; other topics about 0
LANGUAGE_SHIFT = 0.3  # a translation is a little farther than a paraphrase in the same language
# Topics of one family share a direction, so a coarser level exists: their centres lie at cosine
# FAMILY_PULL² / (1 + FAMILY_PULL²), about 0.69, as related themes do with real embedding models (between
# the default group threshold 0.60 and the merge threshold 0.80 of themegen/taxonomy/settings.py).
FAMILY_PULL = 1.5
# A multi-source phrase is its majority topic's when that topic wrote at least this share of it.
MAJORITY = 2 / 3

SLOT_TOPICS = {"slot:item": "products", "slot:device": "devices", "slot:screen": "app_screens"}
_FAMILIES = {
    "app": ("app_crash", "performance", "ui", "login", "notifications", "app_screens", "devices"),
    "orders": ("delivery", "returns", "product_quality", "products", "gift_wrapping"),
    "money": ("billing", "pricing"),
    "talk": ("context", "opener", "closer", "generic"),
}
FAMILY = {topic: family for family, topics in _FAMILIES.items() for topic in topics}


def _phrases(sentence: str) -> list[str]:
    return [p.text.casefold() for s in split_sentences(sentence) for p in sentence_phrases(s)]


@lru_cache(maxsize=1)
def _phrase_topics() -> dict[str, str]:
    """Casefolded phrase -> topic, from every sentence the sample generator can write (built once:
    about 600 sentences, a second or two of janome)."""
    sources: defaultdict[str, Counter[str]] = defaultdict(Counter)
    slots: dict[str, str] = {}
    for pool, sentence in topic_sentences():
        if pool in SLOT_TOPICS:
            slots.update((phrase, SLOT_TOPICS[pool]) for phrase in _phrases(sentence))
            continue
        if pool == "mixed":  # a code-switched sentence is about the area its signal words name
            pool = next(iter(sentence_topics(sentence).areas), pool)
        for phrase in _phrases(sentence):
            sources[phrase][pool] += 1
    table = dict(slots)
    for phrase, counts in sources.items():
        if len(counts) == 1:
            table[phrase] = next(iter(counts))
            continue
        # Written by several topics: about the product, device or screen it names, else the majority's.
        slot = next((topic for name, topic in slots.items() if name in phrase), None)
        topic, count = counts.most_common(1)[0]
        if slot is not None:
            table[phrase] = slot
        elif count >= MAJORITY * counts.total():
            table[phrase] = topic
        else:
            table.pop(phrase, None)
    return table


@lru_cache(maxsize=65536)
def topic_of_theme(text: str) -> str | None:
    """The sample topic a theme string comes from (module docstring), None when it has none."""
    key = text.strip().casefold()
    if (topic := label_topics().get(key) or _phrase_topics().get(key)) is not None:
        return topic
    areas = sentence_topics(text).areas
    return areas[0] if len(areas) == 1 else None


def _direction(seed: str) -> np.ndarray:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    vector = rng.standard_normal(DIMENSIONS)
    return vector / np.linalg.norm(vector)


@lru_cache(maxsize=256)
def _centre(topic: str) -> np.ndarray:
    centre = _direction(f"topic:{topic}") + FAMILY_PULL * _direction(f"family:{FAMILY.get(topic, topic)}")
    return centre / np.linalg.norm(centre)


@lru_cache(maxsize=256)
def _language_shift(topic: str, lang: str) -> np.ndarray:
    return LANGUAGE_SHIFT * _direction(f"language:{topic}:{lang}")


def theme_vector(text: str) -> np.ndarray:
    """The unit vector of a theme string, all 3,072 dimensions."""
    noise = _direction(f"text:{text}")
    topic = topic_of_theme(text)
    if topic is None:
        return noise
    lang = language(*sentence_topics(text)[1:])
    vector = _centre(topic) + _language_shift(topic, lang) + NOISE * noise
    return vector / np.linalg.norm(vector)


def embedding_values(text: str, dimensions: int) -> list[float]:
    """What the simulated model answers: the first `dimensions` values, not normalized again below
    3,072 (Google's docs: only the full-size embedding is normalized)."""
    return np.round(theme_vector(text)[:dimensions], 7).tolist()
