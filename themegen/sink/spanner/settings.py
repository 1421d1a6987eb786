"""The Spanner sink's settings (THEMEGEN_SPANNER_*), nested in the root Settings as `spanner`."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from themegen.config.identifiers import check_identifier
from themegen.sink.spanner.commits import SPANNER_MAX_MUTATIONS_PER_COMMIT


class SpannerSettings(BaseModel):
    instance: str = "themegen"
    database: str = "themegen"
    table: str = "Themes"
    failures_table: str = "ThemeFailures"
    judgements_table: str = Field("ThemeJudgements", description="the quality judge's verdicts (themegen/quality)")
    canonical_table: str = Field("CanonicalThemes", description="the taxonomy's canonical themes (themegen/taxonomy)")
    theme_map_table: str = Field("ThemeCanonicalMap", description="each distinct theme string's canonical theme")
    mutations_per_commit: int = Field(
        20_000, ge=16, le=SPANNER_MAX_MUTATIONS_PER_COMMIT,
        description="mutation budget per commit (Spanner's hard limit: 80,000)",
    )
    deadline_s: float = Field(
        120.0, gt=0, description="how long a Spanner read or commit is retried before the run stops with an error"
    )
    concurrent_commits: int | None = Field(
        None, ge=1,
        description="commits in flight at once from one process (None: no cap). The Spanner emulator runs one "
                    "read-write transaction at a time and aborts the others, which the client then retries "
                    "after seconds of backoff: 1 there",
    )
    # SPANNER_EMULATOR_HOST is read by google-cloud-spanner itself; no setting needed here.

    @field_validator("table", "failures_table", "judgements_table", "canonical_table", "theme_map_table")
    @classmethod
    def _identifier(cls, value: str, info) -> str:
        return check_identifier(value, f"spanner_{info.field_name}")
