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
