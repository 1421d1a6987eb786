"""Pydantic models at the pipeline's boundaries (between tasks, and between edges and tasks)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BatchDescriptor(BaseModel):
    """A fixed slice of the run's snapshot: batch `batch_id` always holds the same rows."""

    model_config = ConfigDict(frozen=True)

    batch_id: int
    snapshot_table: str = Field(description="project.dataset.table of the run's snapshot")
    row_count: int
    first_id: str
    last_id: str


class BatchPlan(BaseModel):
    """What create_batches found: the batches plus the cost of reading the source."""

    snapshot_table: str
    rows_total: int
    batches: list[BatchDescriptor]
    batch_size: int = Field(description="rows per batch: a batch id names the same rows only with it")
    bytes_processed: int = 0
    duplicate_ids: list[str] = Field(default_factory=list, description="ids seen more than once (kept once)")


class SourceRow(BaseModel):
    id: str
    text: str | None


class ThemeRecord(BaseModel):
    """One row's validated answer, shaped like the Spanner Themes row."""

    source_id: str
    themes: list[str]
    model: str
    prompt_version: str
    input_hash: str


class RowFailure(BaseModel):
    source_id: str
    batch_id: int
    error: str
    attempts: int
    retryable: bool = Field(False, description="transient (quota, 5xx, timeouts): a rerun may succeed")


class LlmUsage(BaseModel):
    """Counters of LLM traffic; additive so batches can be summed."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    retries: int = 0
    http_429: int = 0
    latencies_ms: list[int] = Field(default_factory=list, description="per answered request")

    def __add__(self, other: LlmUsage) -> LlmUsage:
        return LlmUsage(**{k: getattr(self, k) + getattr(other, k) for k in LlmUsage.model_fields})


class BatchResult(BaseModel):
    batch_id: int
    rows: int
    records: list[ThemeRecord] = Field(default_factory=list)
    failures: list[RowFailure] = Field(default_factory=list)
    usage: LlmUsage = Field(default_factory=LlmUsage)
    cached: int = Field(0, description="rows answered from the row cache (no LLM call)")
    seconds: float = 0.0
    error: str | None = Field(None, description="set when the whole batch failed (e.g. read error)")
    stopped: str | None = Field(None, description="why the run stopped sending requests (per-day quota)")


class UpsertResult(BaseModel):
    themes_written: int
    failures_written: int
    commits: int


class RunSummary(BaseModel):
    """The run's numbers; `themegen run --json` prints exactly these keys."""

    rows_total: int = 0
    rows_succeeded: int = 0
    rows_failed: int = 0
    rows_skipped_cached: int = 0
    llm_calls: int = 0
    llm_retries: int = 0
    http_429: int = 0
    themes_written: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_seconds: float = 0.0
    flow_run_id: str | None = None
