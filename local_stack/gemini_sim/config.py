"""Knobs of the Gemini simulator: CLI flags, changeable at runtime via POST /_sim/config."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class QualityFaults(BaseModel):
    """Shares of themes made bad on purpose (quality.py), which the simulator's judge finds again."""

    model_config = ConfigDict(extra="forbid")

    generic: float = Field(0.0, ge=0.0, le=1.0, description="themes replaced by a generic label ('feedback')")
    unsupported: float = Field(0.0, ge=0.0, le=1.0, description="themes whose words are not in the text")
    duplicated: float = Field(0.0, ge=0.0, le=1.0, description="themes that near-repeat another of the row")
    wrong_language: float = Field(0.0, ge=0.0, le=1.0, description="themes in the other language")

    @model_validator(mode="after")
    def _at_most_all(self) -> "QualityFaults":
        if self.generic + self.unsupported + self.duplicated + self.wrong_language > 1:
            raise ValueError("the quality fault shares add up to more than 1")
        return self


class SimConfig(BaseModel):
    # extra="forbid": a typo in a knob name must fail loudly, not silently simulate nothing.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_s: float = Field(default=0.0, ge=0.0, description="mean answer latency in seconds")
    latency_jitter_s: float = Field(
        default=0.0, ge=0.0, description="uniform +/- jitter on the latency (clipped at 0)"
    )
    rpm: int | None = Field(default=None, ge=1, description="requests per minute (None: unlimited)")
    tpm: int | None = Field(
        default=None, ge=1, description="input tokens per minute (None: unlimited)"
    )
    rpd: int | None = Field(default=None, ge=1, description="requests per day (None: unlimited)")
    day_reset_tz: str = Field(
        default="America/Los_Angeles", description="the rpd day ends at midnight here (the Gemini API's: Pacific "
        "time); POST /_sim/new_day ends it at once")
    error_rate_500: float = Field(default=0.0, ge=0.0, le=1.0, description="P(HTTP 500)")
    error_rate_503: float = Field(default=0.0, ge=0.0, le=1.0, description="P(HTTP 503)")
    invalid_output_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="P(answer text violates the themes contract)"
    )
    finish_reason_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="P(answer ends with --finish-reason)"
    )
    finish_reason: Literal[
        "SAFETY", "MAX_TOKENS", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "OTHER"
    ] = Field(
        default="SAFETY",
        description="MAX_TOKENS answers truncated JSON; the others answer no content at all",
    )
    fail_ids: list[str] = Field(
        default_factory=list, description="row ids that always get an invalid answer"
    )
    fail_mode: Literal["not_json", "five_themes", "duplicate_theme", "empty_theme", "long_theme"] | None = (
        Field(default=None, description="the violation fail_ids get (None: a random one per request)")
    )
    fail_times: int | None = Field(
        default=None, ge=1, description="requests of each fail_id that get the violation (None: all)"
    )
    api_key: str | None = Field(
        default=None, description="the only x-goog-api-key accepted (None: any key)"
    )
    error_ids: list[str] = Field(
        default_factory=list, description="row ids whose requests always get HTTP 500"
    )
    burst_429: int = Field(
        default=0, ge=0, description="the next N requests get 429 (counts down as they arrive)"
    )
    burst_503: int = Field(
        default=0, ge=0, description="the next N requests get 503 (counts down as they arrive)"
    )
    burst_retry_delay_s: float = Field(
        default=0.2, ge=0.0, description="RetryInfo.retryDelay sent with burst 429s"
    )
    seed: int = Field(default=0, description="seed of the simulator's RNG (reproducible runs)")

    # Flex tier (serviceTier "flex" in the request body): slower, and shed when "capacity" is short.
    flex_latency_s: float = Field(
        default=1.0, ge=0.0, description="mean latency of flex requests, instead of latency_s"
    )
    flex_shed_rate_429: float = Field(
        default=0.0, ge=0.0, le=1.0, description="P(flex request shed with 429 RESOURCE_EXHAUSTED)"
    )
    flex_shed_rate_503: float = Field(
        default=0.0, ge=0.0, le=1.0, description="P(flex request shed with 503 UNAVAILABLE)"
    )

    # Batch jobs (models/*:batchGenerateContent, batches/*), read when a job reaches each step.
    batch_turnaround_s: float = Field(
        default=2.0, ge=0.0, description="seconds from a batch job's creation to its end"
    )
    batch_pending_share: float = Field(
        default=0.25, ge=0.0, le=1.0, description="share of the turnaround a job spends PENDING"
    )
    batch_failure_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="P(a batch request gets a per-request error)"
    )
    batch_missing_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="P(a batch request is left out of the output)"
    )
    batch_shuffle: bool = Field(
        default=True, description="batch outputs in random order (map them by key, not position)"
    )
    batch_outcome: Literal["succeeded", "partially_succeeded", "failed", "expired"] = Field(
        default="succeeded",
        description="state a batch job ends in (failed/expired: no output; partially_succeeded: with "
        "its output, Vertex AI jobs only, as the Gemini API has no such state)",
    )
    bigquery_endpoint: str | None = Field(
        default=None,
        description="REST endpoint of the BigQuery emulator Vertex AI batch jobs read and write "
        "(e.g. http://127.0.0.1:9050; None: such jobs are refused)",
    )
    batch_inline_max_bytes: int = Field(
        default=20_000_000, ge=1, description="largest inline batch create body (real limit 20 MB)"
    )
    quality_faults: dict[str, QualityFaults] = Field(
        default_factory=dict,
        description="per model name ('*': any other model): shares of themes made generic, unsupported, "
        "duplicated or wrong-language, so a worse and a better model exist locally",
    )

    # Per-job and per-project limits of the batch services (job_limits.py), refused as they refuse
    # them: 400 INVALID_ARGUMENT for a job too large, 429 RESOURCE_EXHAUSTED when there is no room.
    batch_max_file_bytes: int = Field(
        default=2_147_483_648, ge=1, description="largest batch input file, Gemini API (real limit 2 GB)"
    )
    batch_max_requests: int | None = Field(
        default=None, ge=1, description="requests per Gemini API job (None: no limit, as documented)"
    )
    batch_max_concurrent_jobs: int = Field(
        default=100, ge=1, description="Gemini API jobs pending or running at once per project (real: 100)"
    )
    batch_max_enqueued_tokens: int | None = Field(
        default=None, ge=1, description="input tokens of the Gemini API jobs pending or running at once "
        "(real: per model and tier, e.g. 3,000,000 for gemini-2.5-flash at Tier 1; None: unlimited)"
    )
    vertex_batch_max_requests: int = Field(
        default=200_000, ge=1, description="requests per Vertex AI batch prediction job (real: 200,000)"
    )
    vertex_batch_max_concurrent_jobs: int = Field(
        default=8, ge=1, description="Vertex AI batch prediction jobs pending or running at once (real: 8)"
    )

    # Embeddings (embeddings.py): batchEmbedContents / embedContent, with their own quota and limits.
    embed_rpm: int | None = Field(
        default=None, ge=1, description="embedding quota per minute, each text of a batch counting as one request "
        "(as the Gemini API counts batchEmbedContents; None: unlimited)"
    )
    embed_tpm: int | None = Field(default=None, ge=1, description="embedding input tokens per minute (None: unlimited)")
    embed_max_texts: int = Field(
        default=100, ge=1, description="texts per batchEmbedContents on the Gemini API (real: 100; Vertex AI: 250)"
    )
    embed_max_text_tokens: int = Field(
        default=2048, ge=1, description="input tokens per text (gemini-embedding-001: 2,048); more is a 400"
    )
    embed_latency_s: float = Field(default=0.0, ge=0.0, description="answer latency of an embedding request")
