"""The one settings model: environment variables (prefix THEMEGEN_), overridden by flow parameters.

The root holds what a run is (what to generate, how fast, on which tier); each adapter's own
settings are a block nested under its name, defined in the adapter's folder (`bq`: the BigQuery
source, `spanner` / `postgres`: the sinks, `gemini`: how the client reaches Gemini, `cache`: the row
cache). The environment names stay flat: THEMEGEN_SPANNER_TABLE is `spanner.table`, and so is the
keyword `spanner_table` given to `Settings(...)` or `with_overrides(...)` (a ThemegenConfig block's
field names are these flat names too).

A sink is chosen by `sink`, the name of its nested block: a new sink is its folder under
themegen/sink/ plus one line here, its settings block.

The CLI loads `.themegen/stack.env` (written by `themegen stack up`) into the environment first,
so the local stack is just another set of environment values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from themegen.cache.settings import CacheSettings
from themegen.config.identifiers import check_identifier, check_project
from themegen.llm.gemini.settings import GeminiSettings
from themegen.llm.jobs.settings import JobsSettings
from themegen.sink.postgres.settings import PostgresSettings
from themegen.sink.spanner.settings import SpannerSettings
from themegen.source.bigquery.settings import BigQuerySettings
from themegen.taxonomy.settings import TaxonomySettings
from themegen.tiers import AUTO, TierChoice
from themegen.tiers.choose import parse_deadline

# A batch's task run costs the same whatever its size, so the default batch is a number of requests,
# not of rows: 100 rows at rows_per_request=10 left the request pipe idle at each task's start and end,
# and at zero latency batches of 100 requests ran markedly faster (README Benchmarks).
REQUESTS_PER_BATCH = 100
MAX_BATCH_SIZE = 10_000
LANGUAGE = "language"  # quality_stratify by the text's script, not by a source column


class Settings(BaseSettings):
    """Everything a run needs. Defaults suit the local stack's sample table."""

    # env_nested_max_split=1: THEMEGEN_SPANNER_FAILURES_TABLE is spanner.failures_table.
    model_config = SettingsConfigDict(env_prefix="THEMEGEN_", env_nested_delimiter="_", env_nested_max_split=1,
                                      extra="ignore", validate_assignment=True)

    stack: str | None = Field(
        None, description="label of the environment shown in every report, e.g. 'local-simulated'"
    )

    # --- GCP ---------------------------------------------------------------------------------
    gcp_project: str = Field("themegen-local", description="GCP project for BigQuery jobs and Spanner")
    gcp_credentials: Literal["adc", "anonymous"] = Field(
        "adc",
        description="'adc' = Application Default Credentials (prod); 'anonymous' for emulators only",
    )

    # --- adapters: one nested block each (their folders define them) -------------------------
    bq: BigQuerySettings = Field(default_factory=BigQuerySettings)
    sink: str = Field("spanner", description="where themes go: the name of a sink's block below")
    spanner: SpannerSettings = Field(default_factory=SpannerSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)  # the batch tier's per-job limits
    taxonomy: TaxonomySettings = Field(default_factory=TaxonomySettings)  # canonical themes across rows

    # --- Gemini -------------------------------------------------------------------------------
    model: str = "gemini-2.5-flash"
    temperature: float = Field(0.2, ge=0, le=2)
    max_output_tokens: int = Field(256, ge=16)
    prompt_version: str = "v1"
    prompt_file: str | None = Field(
        None, description="a UTF-8 text file with the instructions (what the rows are, the language rule, words per "
        "theme) in place of the built-in ones; the six-theme count and the JSON answer stay fixed. Its fingerprint "
        "is stored with every row: an edited file regenerates every row, the same file none")
    prompt_instructions: str | None = Field(
        None, description="the instructions as text (a ThemegenConfig block field), in place of prompt_file")
    thinking_budget: int | None = Field(0, description="0 = no thinking tokens (cheapest); None = model default")
    request_timeout_s: float | None = Field(
        None, gt=0, description="seconds per Gemini request; None = the tier's (standard 60, flex 900)")
    max_attempts: int | None = Field(
        None, ge=1, description="attempts per request on 429/5xx/timeouts; None = the tier's (standard 6, flex 10)")
    tier: TierChoice = Field(
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
    delete_gone_rows: bool = Field(
        False, description="delete from the sink the rows whose id left the source table (reported either way)")
    max_input_chars: int = Field(
        30_000, ge=1, description="longer texts fail with a reason instead of being truncated silently"
    )

    # --- Quality (themegen/quality) -----------------------------------------------------------
    quality_sample_rows: int = Field(
        400, ge=0, description="rows of each run whose themes a judge model rates (grounded, specific, distinct, "
        "language, cover) for the report's quality section; about 385 give +/-5 points at 95%; 0 = off")
    judge_model: str | None = Field(
        None, description="the judge; None = a stronger model than THEMEGEN_MODEL (flash-lite -> flash, else pro)")
    judge_rows_per_request: int = Field(
        25, ge=1, le=50, description="rows whose themes one judge request rates; more repeat the rubric and the "
        "thinking budget less")
    judge_thinking_budget: int | None = Field(
        None, ge=0, le=32_768, description="thinking tokens one judge request may spend, billed as output; None = "
        "the least the judge model takes: 0 (no thinking) on Flash, 128 on Pro, whose thinking cannot be turned "
        "off (a smaller value is raised to 128 there)")
    quality_seed: int = Field(0, description="which rows are sampled: the same seed judges the same rows (cached)")
    quality_stratify: str | None = Field(
        None, description="each stratum's share of the sample as in the rows read: language (Japanese script or "
        "not, from the text) or the name of a source column (e.g. lang, channel)")

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
    orchestrator_timeout_s: float = Field(
        240, gt=0, description="a run whose Prefect API has not answered for this long, with nothing written for as "
        "long and no batch at work, ends with exit code 1 and one message (its rows are in the sink and the row "
        "cache); a little under the 254 s one Prefect API call retries for (PREFECT_CLIENT_MAX_RETRIES=7)",
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
    rpd: int | None = Field(
        None, ge=1, description="Gemini requests per day this run may use (the quota's requests per day); a run that "
        "spends them stops and continues after the reset; the estimate packs rows to fit a day")
    tpd: int | None = Field(None, ge=1, description="Gemini input tokens per day this run may use; None = not limited")
    pack_to_fit_day: bool = Field(
        True, description="with rpd set: a run whose rows need more than a day at rows_per_request sends more rows "
        "per request, the fewest that fit a day (never fewer than rows_per_request)")
    quota_resets_at: str = Field(
        "00:00 America/Los_Angeles", description="when the per-day quotas reset (HH:MM and a time zone): a run "
        "stopped by the day's quota continues then")
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

    @field_validator("quota_resets_at")
    @classmethod
    def _quota_resets_at(cls, value: str) -> str:
        from themegen.limiter.day import parse_reset  # here: the limiter package imports these settings

        parse_reset(value)
        return value

    @field_validator("gcp_project")
    @classmethod
    def _project(cls, value: str) -> str:
        return check_project(value, "gcp_project")

    @field_validator("sink")
    @classmethod
    def _sink(cls, value: str) -> str:
        if value not in SINKS:
            raise ValueError(f"sink {value!r} is not one of {', '.join(SINKS)} (set THEMEGEN_SINK)")
        return value

    @field_validator("quality_stratify")
    @classmethod
    def _stratify(cls, value: str | None) -> str | None:
        # a column name goes into the source's SQL: an identifier only (whether it exists, the source checks)
        return value if value in (None, LANGUAGE) else check_identifier(value, "quality_stratify")

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: str | None) -> str | None:
        if value is not None:
            parse_deadline(value)
        return value

    @model_validator(mode="after")
    def _auto_needs_deadline(self) -> Settings:
        if self.tier == AUTO and self.deadline is None:
            raise ValueError("tier='auto' picks the cheapest tier that fits a deadline: set THEMEGEN_DEADLINE "
                             "(e.g. 2h, 1d) or choose THEMEGEN_TIER=standard or flex")
        return self

    @property
    def deadline_s(self) -> float | None:
        return None if self.deadline is None else parse_deadline(self.deadline)

    @model_validator(mode="after")
    def _api_key_needed(self) -> Settings:
        if self.gemini.backend == "api_key" and self.gemini.api_key is None:
            raise ValueError("gemini_backend='api_key' needs THEMEGEN_GEMINI_API_KEY")
        return self

    @property
    def rows_per_batch(self) -> int:
        """batch_size, else REQUESTS_PER_BATCH requests' worth of rows."""
        return self.batch_size or REQUESTS_PER_BATCH * self.rows_per_request

    @property
    def stratify_column(self) -> str | None:
        """The source column the quality sample is stratified by (None: none, or by the text's language)."""
        return None if self.quality_stratify in (None, LANGUAGE) else self.quality_stratify

    @property
    def source_table(self) -> str:
        return f"{self.bq.project or self.gcp_project}.{self.bq.dataset}.{self.bq.table}"

    @property
    def staging_dataset(self) -> str:
        return f"{self.bq.project or self.gcp_project}.{self.bq.staging_dataset or self.bq.dataset}"

    @property
    def sink_settings(self) -> BaseModel:
        """The chosen sink's own block (`spanner`, `postgres`, ...)."""
        return getattr(self, self.sink)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        return nest(data) if isinstance(data, dict) else data

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with every non-None override applied and validated (flow parameters win); adapter
        settings by their flat names (spanner_table=...)."""
        changes = nest({k: v for k, v in overrides.items() if v is not None})
        if not changes:
            return self
        merged = self.model_dump()
        for name, value in changes.items():
            merged[name] = {**merged[name], **value} if name in NESTED and isinstance(value, dict) else value
        return self.model_validate(merged)


# Nested blocks, by the prefix of their flat names: the field `spanner` holds spanner_* settings.
NESTED = ("bq", "spanner", "postgres", "gemini", "cache", "jobs", "taxonomy")
# The sinks are the nested blocks defined in themegen/sink/<name>/ (a sink is chosen by that name).
SINKS = tuple(name for name in NESTED if Settings.model_fields[name].annotation.__module__.startswith("themegen.sink."))



def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{spanner_table: x, rpm: 5} -> {spanner: {table: x}, rpm: 5} (pure); nested dicts stay as they are."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        group, _, rest = key.partition("_")
        if group in NESTED and rest:
            nested.setdefault(group, {})
            if isinstance(nested[group], dict):
                nested[group][rest] = value
        elif key in NESTED and isinstance(value, dict) and isinstance(nested.get(key), dict):
            nested[key] = {**value, **nested[key]}
        else:
            nested[key] = value
    return nested
