"""Naming clusters: the instruction, the request's user turn, the answer's schema and its parser (pure).

Contrastive, as Clio names clusters: the model sees each cluster's most frequent members and members
of its nearest other clusters, and names what sets this one apart, once per language its members use
(a Japanese and an English name where both occur). Several clusters go in one request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from themegen.taxonomy import ClusterName, ClusterToName, InvalidName
from themegen.domain.answer_json import listed

LANGUAGES = ("en", "ja")
MAX_NAME_CHARS = 60
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")

NAMING_INSTRUCTION = (
    "You name groups of customer-feedback themes. The JSON input lists clusters: each has an id, its "
    "members (the most frequent theme strings in it), neighbours (members of the most similar other "
    "clusters) and languages. For each cluster, give a name of 2 to 5 words that says what its members "
    "share and what sets them apart from the neighbours: a topic a reader recognises (\"late delivery\", "
    "\"app crashes on startup\"), not a generic label (\"feedback\", \"other\", \"issues\"). Give one name per "
    "listed language: \"en\" in English, \"ja\" in natural Japanese (a noun phrase, no sentence); null for a "
    "language not listed. Copy each cluster's id exactly. Answer only with JSON that matches the response "
    "schema."
)


class _NameSchema(BaseModel):
    id: str
    en: str | None = Field(description="the English name, 2-5 words; null when 'en' is not listed")
    ja: str | None = Field(description="the Japanese name; null when 'ja' is not listed")


class _NamesSchema(BaseModel):
    names: list[_NameSchema]


NAMES_JSON_SCHEMA = _NamesSchema.model_json_schema()


def naming_content(clusters: Sequence[ClusterToName]) -> str:
    """The user turn of one naming request (JSON keeps the theme strings unambiguous)."""
    return json.dumps({"clusters": [{"id": c.id, "members": c.members, "neighbours": c.neighbours,
                                     "languages": c.languages} for c in clusters]}, ensure_ascii=False)


def _name(value: object, language: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidName(f"no {language} name")
    name = " ".join(value.split())
    if len(name) > MAX_NAME_CHARS:
        raise InvalidName(f"the {language} name is longer than {MAX_NAME_CHARS} characters: {name[:80]!r}")
    if language == "ja" and not _JAPANESE.search(name):
        raise InvalidName(f"the ja name is not Japanese: {name!r}")
    return name


def _cluster_name(item: dict, cluster: ClusterToName) -> ClusterName:
    wanted = [language for language in LANGUAGES if language in cluster.languages] or ["en"]
    return ClusterName(**{language: _name(item.get(language), language) for language in wanted})


def parse_names(text: str | None, clusters: Sequence[ClusterToName]) -> dict[str, ClusterName | InvalidName]:
    """Each asked cluster's names, or why it has none (missing, empty, too long, not in its language);
    a name for a language not asked for is left out. The answer as a whole unreadable: every cluster
    gets that reason."""
    if (items := listed(text, "names")) is None:
        reason = InvalidName(f"the answer is not the names JSON: {(text or '')[:80]!r}")
        return {c.id: reason for c in clusters}
    by_id = {str(item.get("id")): item for item in items if isinstance(item, dict)}
    found: dict[str, ClusterName | InvalidName] = {}
    for cluster in clusters:
        try:
            if cluster.id not in by_id:
                raise InvalidName("the answer has no names for this cluster")
            found[cluster.id] = _cluster_name(by_id[cluster.id], cluster)
        except InvalidName as exc:
            found[cluster.id] = exc
    return found
