"""The PostgreSQL sink's settings (THEMEGEN_POSTGRES_*), nested in the root Settings as `postgres`."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from themegen.config.identifiers import check_identifier


class PostgresSettings(BaseModel):
    dsn: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/themegen"),
        description="libpq connection string, e.g. postgresql://user:password@host:5432/db (Cloud SQL, AlloyDB)",
    )
    table: str = "themes"
    failures_table: str = "theme_failures"
    judgements_table: str = Field("theme_judgements", description="the quality judge's verdicts (themegen/quality)")
    canonical_table: str = Field("canonical_themes", description="the taxonomy's canonical themes (themegen/taxonomy)")
    theme_map_table: str = Field("theme_canonical_map", description="each distinct theme string's canonical theme")
    deadline_s: float = Field(
        120.0, gt=0, description="how long a read or write is retried before the run stops with an error"
    )
    rows_per_commit: int = Field(
        1_000, ge=1, le=10_000,
        description="rows (upserts and deletes) per transaction: a batch's writes in bounded transactions",
    )
    pool_size: int = Field(
        10, ge=1, description="connections one process opens at most (its batches share them; mind the "
        "server's max_connections, e.g. a small Cloud SQL instance's)",
    )

    @field_validator("table", "failures_table", "judgements_table", "canonical_table", "theme_map_table")
    @classmethod
    def _identifier(cls, value: str, info) -> str:
        return check_identifier(value, f"postgres_{info.field_name}")
