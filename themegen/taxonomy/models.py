"""What the taxonomy step reads from and writes to the sink, and what it reports (boundary models)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from themegen.domain.models import LlmUsage


class CanonicalTheme(BaseModel):
    """One cluster: level 1 = a canonical theme (raw themes map to it), level 2 = a group of them."""

    id: str
    level: int = Field(ge=1, le=2)
    parent_id: str | None = None
    name_en: str | None = None
    name_ja: str | None = None
    examples: list[str] = Field(default_factory=list, description="its most-mentioned member themes")
    rows: int = Field(0, description="rows with at least one theme in it")
    mentions: int = Field(0, description="theme strings of all rows in it")
    centroid: list[float]
    fingerprint: str = Field(description="the settings whose vectors the centroid is comparable with")

    @property
    def name(self) -> str:
        return " / ".join(n for n in (self.name_en, self.name_ja) if n) or (self.examples[0] if self.examples else self.id)


class DistinctTheme(BaseModel):
    """A theme string of the themes table with its counts, and what the mapping holds for it."""

    theme: str
    mentions: int
    mapped: bool = Field(False, description="the mapping has it (embedded before): never embedded again")
    canonical_id: str | None = Field(None, description="its canonical theme; None when unclustered or not mapped")


class ThemeMapping(BaseModel):
    theme: str
    canonical_id: str | None = Field(description="None: embedded, but similar to no canonical theme")
    similarity: float | None = None
    fingerprint: str


class CanonicalCounts(BaseModel):
    """What the sink counts over the themes table and the mapping (the README's query)."""

    by_id: dict[str, tuple[int, int]] = Field(default_factory=dict, description="id -> (rows, mentions)")
    rows_with_themes: int = 0
    mentions: int = 0
    mentions_mapped: int = Field(0, description="theme strings whose theme maps to a canonical theme")


class TopTheme(BaseModel):
    id: str
    name: str
    parent: str | None = None
    rows: int
    mentions: int
    share: float = Field(description="of the rows with themes")
    examples: list[str] = Field(default_factory=list)


class TaxonomyReport(BaseModel):
    """What the taxonomy step did: for the report, the flow log and the tests."""

    enabled: bool = True
    why_not: str = ""
    error: str | None = None
    distinct_themes: int = 0
    themes_embedded: int = Field(0, description="distinct themes embedded this run (new to the mapping)")
    unclustered_reconsidered: int = Field(0, description="themes unclustered before, clustered again with the new")
    embed_failures: int = 0
    embed_failure_example: str | None = None
    new_canonical: int = 0
    new_groups: int = 0
    canonical: int = Field(0, description="level-1 canonical themes in the sink")
    groups: int = Field(0, description="level-2 groups in the sink")
    clusters_named: int = 0
    naming_failures: int = 0
    naming_failure_example: str | None = None
    rows_with_themes: int = 0
    mentions: int = 0
    mentions_mapped: int = 0
    top: list[TopTheme] = Field(default_factory=list)
    embed_usage: LlmUsage = Field(default_factory=LlmUsage)
    name_usage: LlmUsage = Field(default_factory=LlmUsage)
    embed_model: str = ""
    name_model: str = ""
    cost_usd: float | None = Field(None, description="embedding + naming; None when a price is unknown")
    seconds: float = 0.0

    @property
    def unclustered_share(self) -> float:
        return 1 - self.mentions_mapped / self.mentions if self.mentions else 0.0
