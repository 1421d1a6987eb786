"""The one settings model: environment variables (prefix THEMEGEN_), overridden by flow parameters.

The CLI loads `.themegen/stack.env` (written by `themegen stack up`) into the environment first,
so the local stack is just another set of environment values.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from themegen.source.bigquery.filter import validate_where
from themegen.tiers.choose import parse_deadline

# BigQuery / Spanner identifiers end up inside SQL and DDL text, so they are checked, never quoted
# blindly: letters, digits and underscores, starting with a letter or underscore.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# BigQuery project ids may contain dashes (and a domain prefix such as "example.com:proj").
_PROJECT = re.compile(r"^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,61}[a-z0-9]$")
# A batch's task run costs the same whatever its size, so the default batch is a number of requests,
# not of rows: 100 rows at rows_per_request=10 left the request pipe idle at each task's start and end,
# and at zero latency batches of 100 requests ran markedly faster (README Benchmarks).
REQUESTS_PER_BATCH = 100
MAX_BATCH_SIZE = 10_000


def check_identifier(value: str, setting: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{setting}={value!r} is not a valid identifier: use letters, digits and underscores "
            f"(set THEMEGEN_{setting.upper()})"
        )
    return value


class Settings(BaseSettings):
    """Everything a run needs. Defaults suit the local stack's sample table."""

    model_config = SettingsConfigDict(env_prefix="THEMEGEN_", extra="ignore", validate_assignment=True)

    stack: str | None = Field(
        None, description="label of the environment shown in every report, e.g. 'local-simulated'"
    )

    # --- GCP ---------------------------------------------------------------------------------
    gcp_project: str = Field("themegen-local", description="GCP project for BigQuery jobs and Spanner")
    gcp_credentials: Literal["adc", "anonymous"] = Field(
        "adc",
        description="'adc' = Application Default Credentials (prod); 'anonymous' for emulators only",
    )

    # --- BigQuery source ---------------------------------------------------------------------
    bq_project: str | None = Field(None, description="project holding the source table (default gcp_project)")
    bq_dataset: str = "themegen"
    bq_table: str = "feedback"
    bq_id_column: str = "id"
    bq_text_columns: list[str] = Field(default_factory=lambda: ["text"])
    bq_where: str | None = Field(None, description="optional filter on the source rows: one boolean BigQuery SQL expression")
    bq_location: str | None = None
    bq_staging_dataset: str | None = Field(
        None, description="dataset for the run's snapshot table (default: the source dataset)"
    )
    bq_api_endpoint: str | None = Field(None, description="BigQuery REST endpoint override (emulator)")
    bq_storage_endpoint: str | None = Field(None, description="BigQuery Storage Read gRPC host:port override; http://host:port for plaintext (an emulator)")

    # --- Spanner sink --------------------------------------------------------------------------
    spanner_instance: str = "themegen"
    spanner_database: str = "themegen"
    spanner_table: str = "Themes"
    spanner_failures_table: str = "ThemeFailures"
    spanner_mutations_per_commit: int = Field(
        20_000, ge=16, le=80_000, description="mutation budget per commit (Spanner's hard limit: 80,000)"
    )
    spanner_deadline_s: float = Field(
        120.0, gt=0, description="how long a Spanner read or commit is retried before the run stops with an error"
    )
    # SPANNER_EMULATOR_HOST is read by google-cloud-spanner itself; no setting needed here.

    # --- Gemini -------------------------------------------------------------------------------
    gemini_backend: Literal["vertex", "api_key"] = "vertex"
    gemini_location: str = "asia-northeast1"
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = Field(None, description="Gemini endpoint override (simulator)")
    model: str = "gemini-2.5-flash"
    temperature: float = Field(0.2, ge=0, le=2)
    max_output_tokens: int = Field(256, ge=16)
    prompt_version: str = "v1"
    thinking_budget: int | None = Field(0, description="0 = no thinking tokens (cheapest); None = model default")
    request_timeout_s: float | None = Field(
        None, gt=0, description="seconds per Gemini request; None = the tier's (standard 60, flex 900)")
    max_attempts: int | None = Field(
        None, ge=1, description="attempts per request on 429/5xx/timeouts; None = the tier's (standard 6, flex 10)")
    tier: Literal["standard", "flex", "batch", "auto"] = Field(
        "standard", description="how Gemini is bought (themegen/tiers/): standard (list price), flex (half price, "
        "best effort, minutes per request), batch (half price, a job done within 24 h), or auto: the cheapest "
        "tier expected to finish within THEMEGEN_DEADLINE",
    )
    deadline: str | None = Field(None, description="when the run must be done, e.g. 90m, 2h, 1d (needed by tier=auto)")
    deadline_at: datetime | None = Field(
        None, description="the deadline as a moment: set by the flow when it starts (from `deadline`), or given, so "
        "child runs share their parent's")
    flex_fallback: bool = Field(
        True, description="rows still unanswered when the deadline nears are sent at the standard price (flex "
        "requests take minutes and may be shed); false = they stay on flex, the deadline may pass")
    rows_per_request: int = Field(
        1, ge=1, le=50,
        description="rows packed into one Gemini request ({items: [{id, themes}]}); more rows per request "
        "spend fewer requests (RPM) and repeat the instructions less (tokens), at the risk of a lost item "
        "(asked again alone)",
    )
    retry_failed: bool = Field(
        False, description="send rows again whose answer was declined or stayed invalid (paid for, and "
        "recorded in the row cache); otherwise only a new prompt or model sends them again",
    )
    max_input_chars: int = Field(
        30_000, ge=1, description="longer texts fail with a reason instead of being truncated silently"
    )

    # --- Row cache (durable LLM answers) ----------------------------------------------------
    cache_path: Path = Field(Path(".themegen/cache"), description="local cache directory (one machine)")
    cache_block: str | None = Field(
        None, description="storage block slug shared by all workers, e.g. 'gcs-bucket/themegen-cache'"
    )

    # --- Throughput ---------------------------------------------------------------------------
    batch_size: int | None = Field(
        None, ge=1, le=MAX_BATCH_SIZE,
        description=f"rows per batch task; default {REQUESTS_PER_BATCH} requests' worth ({REQUESTS_PER_BATCH} x rows_per_request)",
    )
    max_parallel_batches: int = Field(50, ge=1)
    max_rows_in_flight: int = Field(
        20_000, ge=1, description="rows one flow process holds at once (batches at once x rows per batch): its "
        "memory follows this, not the table, whose batches grow with it (max_batches_per_run)",
    )
    run_timeout_s: float = Field(
        3_600, gt=0, description="the longest one flow run may take (the Cloud Run job's timeout in prefect.yaml): "
        "generate-themes-sharded splits a longer job into child runs that each fit",
    )
    max_batches_per_run: int = Field(
        2_000, ge=1, description="batch task runs one flow run may have: larger tables get larger batches "
        "(each task run costs the Prefect server tens of milliseconds and the report a line)",
    )
    rpm: int = Field(1000, ge=1, description="Gemini requests per minute this run may use")
    shared_rate_limit: str | None = Field(
        None,
        description="Prefect global concurrency limit every process takes one slot of per Gemini request "
        "(e.g. 'gemini-rpm', created by `themegen limits apply`), so several workers share one quota; "
        "None = only the in-process throttle, which is right for a single process",
    )
    shared_rate_limit_chunk: int | None = Field(
        None, ge=1, description="slots a process takes from the shared limit per server call (default rpm/240)"
    )
    tpm: int | None = Field(
        None, ge=1, description="Gemini input tokens per minute this run may use; None = not limited"
    )
    shared_token_limit: str | None = Field(
        None,
        description="Prefect global concurrency limit every process takes a request's estimated input tokens "
        "of (e.g. 'gemini-tpm', created by `themegen limits apply`); needs tpm; None = in-process budget only",
    )
    quota_headroom: float = Field(
        0.005, ge=0, lt=0.5,
        description="fraction of rpm and tpm left unused, so waves of requests and network jitter stay "
        "inside the quota's sliding 60-s window",
    )
    quota_share: int = Field(
        1, ge=1,
        description="processes splitting the quota evenly (a shard of N sets N): each paces itself at "
        "1/N of rpm and tpm and runs 1/N of max_parallel_batches, so they rarely contend for the shared "
        "Prefect limits, which still cap them all",
    )
    max_in_flight: int | None = Field(
        None, ge=1, description="open Gemini requests per process; needs >= rpm/60 x latency_s to reach the quota; "
        "None = the tier's (standard 256; flex grows it to that, up to 2,048)"
    )

    @field_validator("shared_token_limit")
    @classmethod
    def _token_limit_needs_tpm(cls, value: str | None, info) -> str | None:
        if value is not None and info.data.get("tpm") is None:
            raise ValueError("shared_token_limit needs tpm: set THEMEGEN_TPM to the input tokens per minute")
        return value

    @field_validator(
        "bq_dataset", "bq_staging_dataset", "bq_table", "bq_id_column", "spanner_table", "spanner_failures_table"
    )
    @classmethod
    def _identifier(cls, value: str | None, info) -> str | None:
        return None if value is None else check_identifier(value, info.field_name)

    @field_validator("bq_text_columns")
    @classmethod
    def _text_columns(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("bq_text_columns is empty: name at least one text column")
        return [check_identifier(v, "bq_text_columns") for v in value]

    @field_validator("gcp_project", "bq_project")
    @classmethod
    def _project(cls, value: str | None, info) -> str | None:
        if value is not None and not _PROJECT.match(value):
            raise ValueError(f"{info.field_name}={value!r} is not a valid GCP project id")
        return value

    @field_validator("bq_where")
    @classmethod
    def _where(cls, value: str | None) -> str | None:
        # The filter is SQL by design, pasted into the snapshot query next to the shard condition:
        # anything but one boolean expression could widen a shard (issue 11). Empty = no filter.
        if value is None or not value.strip():
            return None
        return validate_where(value)

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: str | None) -> str | None:
        if value is not None:
            parse_deadline(value)
        return value

    @model_validator(mode="after")
    def _auto_needs_deadline(self) -> Settings:
        if self.tier == "auto" and self.deadline is None:
            raise ValueError("tier='auto' picks the cheapest tier that fits a deadline: set THEMEGEN_DEADLINE "
                             "(e.g. 2h, 1d) or choose THEMEGEN_TIER=standard or flex")
        return self

    @property
    def deadline_s(self) -> float | None:
        return None if self.deadline is None else parse_deadline(self.deadline)

    @model_validator(mode="after")
    def _api_key_needed(self) -> Settings:
        if self.gemini_backend == "api_key" and self.gemini_api_key is None:
            raise ValueError("gemini_backend='api_key' needs THEMEGEN_GEMINI_API_KEY")
        return self

    @property
    def rows_per_batch(self) -> int:
        """batch_size, else REQUESTS_PER_BATCH requests' worth of rows."""
        return self.batch_size or REQUESTS_PER_BATCH * self.rows_per_request

    @property
    def source_table(self) -> str:
        return f"{self.bq_project or self.gcp_project}.{self.bq_dataset}.{self.bq_table}"

    @property
    def staging_dataset(self) -> str:
        return f"{self.bq_project or self.gcp_project}.{self.bq_staging_dataset or self.bq_dataset}"

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with every non-None override applied and validated (flow parameters win)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return self.model_validate({**self.model_dump(), **changes}) if changes else self
