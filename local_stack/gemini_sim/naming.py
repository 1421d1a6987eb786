"""The simulator's cluster namer: a request shaped like themegen's naming request (a response schema
with a `names` field; clusters of id, members, neighbours and languages in the user turn) is answered
with the labels of the members' majority topic (vectors.py's ground truth; topics.py's labels in English
and Japanese), its second label when the neighbours share that topic (what sets it apart), a family's
label for a coarse cluster whose topics share a family, and for a cluster of no known topic, its most
frequent member in each language. Simulated, never a model's."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .answers import payload_items, wants_field
from .topics import area_labels, language, sentence_topics
from .vectors import FAMILY, topic_of_theme

NAMES_FIELD = "names"
# Labels of the topics that are not areas of topics.py (vectors.py's slot and pool topics).
_OTHER_LABELS = {
    "products": {"en": ("products mentioned", "product names"), "ja": ("言及された商品", "商品名")},
    "devices": {"en": ("devices used", "device models"), "ja": ("利用端末", "端末の機種")},
    "app_screens": {"en": ("app screens", "screen names"), "ja": ("アプリの画面", "画面の名前")},
    "generic": {"en": ("general feedback", "overall impressions"), "ja": ("全般的なご意見", "全体の印象")},
    "context": {"en": ("customer background", "usage context"), "ja": ("利用状況", "お客様の背景")},
    "opener": {"en": ("greetings and openers", "customer introductions"), "ja": ("挨拶と前置き", "お客様の自己紹介")},
    "closer": {"en": ("closing requests", "final remarks"), "ja": ("締めのご要望", "結びの言葉")},
}


def is_naming_request(body: dict[str, Any]) -> bool:
    return wants_field(body.get("generationConfig"), NAMES_FIELD)




# A coarser cluster (the taxonomy's second level) spans several topics of one family (vectors.py).
_FAMILY_LABELS = {
    "app": {"en": ("app experience", "using the app"), "ja": ("アプリの使い心地", "アプリの利用")},
    "orders": {"en": ("orders and products", "receiving orders"), "ja": ("注文と商品", "注文の受け取り")},
    "money": {"en": ("payments and prices", "money matters"), "ja": ("支払いと料金", "お金のこと")},
    "talk": {"en": ("general remarks", "how customers write"), "ja": ("一般的な発言", "書き方の特徴")},
}


def _majority_topic(members: list[str]) -> str | None:
    """The topic of most members; a family ("family:app") when no topic has half of them and one
    family does; None when no member has a known topic."""
    topics = Counter(t for t in map(topic_of_theme, members) if t is not None)
    if not topics:
        return None
    topic, count = topics.most_common(1)[0]
    families = Counter()
    for name, n in topics.items():
        families[FAMILY.get(name, name)] += n
    family, in_family = families.most_common(1)[0]
    if 2 * count < topics.total() and in_family > count and family in _FAMILY_LABELS:
        return f"family:{family}"
    return topic


def _labels(topic: str) -> dict[str, tuple[str, str]]:
    family = topic.removeprefix("family:")
    return _FAMILY_LABELS[family] if family != topic else _OTHER_LABELS.get(topic) or area_labels(topic)


def _member_in(members: list[str], lang: str) -> str:
    """The most frequent member (members come most frequent first) written in `lang`, else the first."""
    return next((m for m in members if language(*sentence_topics(m)[1:]) == lang), members[0])


def _names(cluster: dict[str, Any]) -> dict[str, Any]:
    members = [str(m) for m in cluster.get("members") or [] if str(m).strip()] or ["(no members)"]
    neighbours = [str(m) for m in cluster.get("neighbours") or []]
    languages = [lang for lang in ("en", "ja") if lang in (cluster.get("languages") or ["en"])]
    topic = _majority_topic(members)
    names: dict[str, Any] = {"id": str(cluster.get("id", "")), "en": None, "ja": None}
    for lang in languages:
        if topic is None:
            names[lang] = _member_in(members, lang)
        else:
            main, second = _labels(topic)[lang]
            names[lang] = second if neighbours and _majority_topic(neighbours) == topic else main
    return names


def naming_text(user_text: str) -> tuple[str, int]:
    """The answer text for a naming request's user turn, and the clusters it named."""
    named = [_names(cluster) for cluster in payload_items(user_text, "clusters")]
    return json.dumps({NAMES_FIELD: named}, ensure_ascii=False), len(named)
