"""What the data says: the distinct themes of a run → embeddings → clusters (canonical themes and a
coarser second level) → names from the LLM → one canonical theme per theme string, with counts.

The ports are here (Embedder, Namer); their Gemini adapters live in themegen/llm/gemini/. The
pipeline and the taxonomy's pure functions see only these interfaces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, Field

from themegen.domain.models import LlmUsage

if TYPE_CHECKING:
    from themegen.cache import RowCache
    from themegen.config.settings import Settings

Vector = list[float]
VECTORS_HELD_PAGES = 2  # pages of vectors (THEMEGEN_TAXONOMY_PAGE_THEMES) the embedder's row cache holds


class EmbedFailure(ValueError):
    """A theme the embedder gave no vector for; the message says why (it is counted, never forced)."""


class ClusterToName(BaseModel):
    """What the namer sees of one cluster: its most frequent members, and members of the nearest
    other clusters so the name says what sets this one apart (contrastive naming, as Clio does)."""

    id: str
    members: list[str] = Field(min_length=1)
    neighbours: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["en"])  # "en", "ja": a name for each


class ClusterName(BaseModel):
    """A cluster's names, one per language its members use (None where that language does not occur)."""

    en: str | None = None
    ja: str | None = None


class InvalidName(ValueError):
    """The namer's answer for a cluster cannot be read; the message says why."""


class Embedder(Protocol):
    """Vectors for theme strings (distinct strings only: the cost grows with the vocabulary)."""

    usage: LlmUsage

    async def embed(self, texts: list[str]) -> list[Vector | EmbedFailure]:
        """One entry per text, in order: its unit-length vector, or why it has none; never raises for
        one bad text or request (a run's taxonomy tolerates partial failure like its themes)."""
        ...


class Namer(Protocol):
    usage: LlmUsage

    async def name(self, clusters: list[ClusterToName]) -> dict[str, ClusterName | InvalidName]:
        """Each cluster's names by id, or why it has none; never raises for one bad answer or request."""
        ...


async def open_embedder(settings: Settings, cache: RowCache | None = None) -> Embedder:
    """The Gemini embedder of THEMEGEN_TAXONOMY_EMBED_*, keeping vectors in `cache` (default: the row
    cache of the settings, so a rerun embeds nothing again, holding at most VECTORS_HELD_PAGES pages of
    vectors in memory). Call it inside the event loop that uses it."""
    from themegen.cache import open_cache
    from themegen.llm.gemini.embedder import GeminiEmbedder

    if cache is None:
        # The step embeds and reads vectors a page at a time; the grouped row cache's map (500,000
        # entries by default, about 2 KB per vector of 256 dimensions) would hold most of a
        # million-theme vocabulary. Vectors beyond the bound stay stored, read again when asked.
        held = min(settings.cache.memory_entries, max(1_000, VECTORS_HELD_PAGES * settings.taxonomy.page_themes))
        cache = await open_cache(settings.model_copy(
            update={"cache": settings.cache.model_copy(update={"memory_entries": held})}))
    return GeminiEmbedder(settings, cache)


async def open_namer(settings: Settings) -> Namer:
    """The Gemini namer (THEMEGEN_TAXONOMY_NAME_MODEL, default THEMEGEN_MODEL). Call it inside the event
    loop that uses it."""
    from themegen.llm.gemini.namer import GeminiNamer

    return GeminiNamer(settings)
