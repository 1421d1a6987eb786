"""The taxonomy step's settings (THEMEGEN_TAXONOMY_*), nested in the root Settings as `taxonomy`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TaxonomySettings(BaseModel):
    enabled: bool = Field(True, description="build the taxonomy after generation in a full run")
    embed_model: str = Field("gemini-embedding-001", description="the Gemini embedding model")
    # gemini-embedding-001 is trained so that a prefix of its vector is itself an embedding
    # (Matryoshka); fewer dimensions mean smaller centroids in the sink and less memory per theme.
    embed_dimensions: int = Field(256, ge=32, le=3072, description="output_dimensionality of each vector")
    embed_texts_per_request: int = Field(
        100, ge=1, le=250, description="theme strings per embedding request (batchEmbedContents)")
    name_model: str | None = Field(None, description="the model naming clusters; None = THEMEGEN_MODEL")
    # The embedding model's own quota (gemini-embedding-001 at Tier 1: 3,000 RPM, 1,000,000 TPM). The
    # Gemini API counts each text of a batchEmbedContents call as one request against the RPM.
    embed_rpm: int = Field(3000, ge=1, description="embedded texts per minute the run may use")
    embed_tpm: int | None = Field(1_000_000, ge=1, description="embedding input tokens per minute; None = not limited")

    # --- clustering (themegen/taxonomy/clustering.py); the defaults suit gemini-embedding-001's cosine
    # similarities, where paraphrases and translations of one idea lie above ~0.8 and unrelated
    # feedback themes around 0.5-0.6.
    seed: int = Field(0, description="seeds the sample and k-means: the same themes give the same clusters")
    sample_themes: int = Field(
        50_000, ge=100, description="distinct themes clustered at most (a sample weighted by mentions); every "
        "theme is then assigned to the nearest cluster, so memory follows this, not the vocabulary")
    first_pass_clusters: int = Field(
        200, ge=2, le=5_000, description="k of the mini-batch k-means that over-clusters the sample before close "
        "centroids are merged (more than the canonical themes expected)")
    merge_similarity: float = Field(
        0.80, gt=0, lt=1, description="k-means centroids at least this similar on average (cosine, average "
        "linkage) merge into one canonical theme")
    assign_similarity: float = Field(
        0.70, gt=0, lt=1, description="a theme joins its nearest canonical theme at least this similar; below it "
        "the theme stays unclustered (counted, never forced)")
    group_similarity: float = Field(
        0.60, gt=0, lt=1, description="canonical themes this similar (average linkage) share a second-level group")
    min_cluster_mentions: int = Field(
        5, ge=1, description="a new cluster whose themes are mentioned fewer times is dropped (its themes stay "
        "unclustered): noise, not a theme")
    page_themes: int = Field(
        5_000, ge=100, description="distinct themes read from the sink, embedded and assigned at a time")
    name_members: int = Field(20, ge=1, le=200, description="most-mentioned members the namer sees per cluster")
    name_neighbours: int = Field(2, ge=0, le=10, description="nearest other clusters whose members the namer sees")
    examples: int = Field(5, ge=1, le=20, description="most-mentioned member themes kept per canonical theme")
