"""Pydantic models at the pipeline's boundaries (between tasks, and between edges and tasks).

What crosses from a batch to the flow is counters, never rows: a run of any size keeps a few
hundred bytes per batch in flight and a fixed-size tally for the whole run (themegen/report/tally.py).
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

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
    rows_without_id: int = Field(0, description="source rows whose id is NULL or empty: skipped, never sent")
    # Rows the done record (BigQuery) found settled for their current text, model and prompt: not in the snapshot.
    rows_done_earlier: int = Field(0, description="the sink holds their themes (by the done record): not read")
    failed_earlier: dict[str, int] = Field(default_factory=dict, description="reason -> rows that failed for good "
                                           "earlier (declined, invalid, bad input) and are unchanged: not read, not "
                                           "sent again (retry_failed sends them)")
    failed_earlier_examples: dict[str, str] = Field(default_factory=dict, description="reason -> one such id")
    @property
    def rows_failed_earlier(self) -> int:
        return sum(self.failed_earlier.values())

    full_layout: bool = Field(True, description="the batches are cut from every row of the table (no row was left "
                              "out as done), so a batch_ids run of a later run names the same rows")
    rows_gone: int = Field(0, description="rows the sink holds whose id left the source table")
    gone_examples: list[str] = Field(default_factory=list, description="a few of those ids")


class SourceRow(BaseModel):
    id: str
    text: str | None
    source_hash: str | None = Field(None, description="the text columns' hash as the snapshot query computed it")


class ThemeRecord(BaseModel):
    """One row's validated answer, shaped like the Spanner Themes row."""

    source_id: str
    themes: list[str]
    model: str
    prompt_version: str
    prompt_fingerprint: str
    input_hash: str


class JudgementRecord(BaseModel):
    """The judge's verdict on one row's themes, shaped like the sink's judgements row."""

    source_id: str
    judge_model: str
    rubric_version: str
    themes: list[str]
    verdicts: list[str] = Field(description="per theme, digits 0/1: grounded, specific, distinct, language")
    cover: bool
    model: str = Field(description="the model that gave the themes")
    prompt_fingerprint: str
    input_hash: str


class Reason(str, Enum):
    """Why a row has no themes. Classes, not messages: the report counts them and says which a
    rerun can fix (`RERUN_FIXES`)."""

    INPUT = "input"  # NULL, empty or too long in the source: fix the source row
    INVALID_ANSWER = "invalid_answer"  # not six usable themes after the repair retry (paid, cached)
    BLOCKED = "blocked"  # the model refused (SAFETY, RECITATION...): paid, cached
    REJECTED = "rejected"  # Gemini answered 4xx for this request (not a quota)
    TRANSIENT = "transient"  # 429/5xx/timeouts until the attempts ran out
    NOT_SENT = "not_sent"  # the run stopped sending (per-day quota, Spanner down) before this row
    CACHE_ERROR = "cache_error"  # the row cache could not be read: not re-billed, rerun later
    BATCH_ERROR = "batch_error"  # the batch as a whole failed (read error, task crash)


# Reasons a plain rerun can fix; the others need a change (source, prompt, model) or retry_failed.
RERUN_FIXES = frozenset({Reason.TRANSIENT, Reason.NOT_SENT, Reason.CACHE_ERROR, Reason.BATCH_ERROR, Reason.REJECTED})
# Reasons recorded in the row cache: paid for, and the same request would get the same answer.
PERMANENT = frozenset({Reason.INVALID_ANSWER, Reason.BLOCKED})


class RowFailure(BaseModel):
    source_id: str
    batch_id: int
    reason: Reason
    error: str
    attempts: int

    @property
    def retryable(self) -> bool:
        return self.reason in RERUN_FIXES


class LatencyHistogram(BaseModel):
    """Request latencies in fixed buckets: constant size whatever the number of calls."""

    BOUNDS_MS: ClassVar[tuple[int, ...]] = (10, 25, 50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000)
    counts: list[int] = Field(default_factory=lambda: [0] * 14)

    def add(self, ms: float) -> None:
        self.counts[next((i for i, b in enumerate(self.BOUNDS_MS) if ms <= b), len(self.BOUNDS_MS))] += 1

    def merge(self, other: LatencyHistogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]

    def percentile(self, q: float) -> int | None:
        """Upper bound (ms) of the bucket holding the q-th percentile; None for no values."""
        total = sum(self.counts)
        if not total:
            return None
        rank, seen = q / 100 * total, 0
        for i, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return self.BOUNDS_MS[i] if i < len(self.BOUNDS_MS) else self.BOUNDS_MS[-1] * 10
        return None


class LlmUsage(BaseModel):
    """Counters of LLM traffic; additive so batches can be summed in place."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    retries: int = 0
    http_429: int = 0
    # Of the above: sent at the standard price on another tier (flex: the deadline near; batch: rows its job left).
    fallback_calls: int = 0
    fallback_input_tokens: int = 0
    fallback_output_tokens: int = 0
    latency: LatencyHistogram = Field(default_factory=LatencyHistogram)

    def merge(self, other: LlmUsage) -> None:
        for name in ("calls", "input_tokens", "output_tokens", "retries", "http_429", "fallback_calls",
                     "fallback_input_tokens", "fallback_output_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)


class BatchResult(BaseModel):
    """A batch's counters. Its rows are already in Spanner (or in the row cache when the write
    failed); nothing here grows with the rows but `failures`, which holds at most a batch's."""

    batch_id: int
    rows: int
    done_before: int = Field(0, description="already in the sink for this input, model and prompt: not touched")
    from_cache: int = Field(0, description="themes from the row cache under the row's own key (paid earlier)")
    from_same_text: int = Field(0, description="themes of an identical text (this run's or an earlier one's)")
    shared: int = Field(0, description="took the answer, or the permanent failure, of an identical text (no request "
                        "of their own); those with themes are also in `from_same_text`")
    answered: int = Field(0, description="answered by Gemini in this run")
    written: int = Field(0, description="theme rows written to Spanner")
    not_written: int = Field(0, description="rows with themes that did not reach Spanner (write failed)")
    failures: list[RowFailure] = Field(default_factory=list)
    rejected_items: dict[str, int] = Field(default_factory=dict, description="packed-answer items rejected, by why")
    usage: LlmUsage = Field(default_factory=LlmUsage)
    seconds: float = 0.0
    error: str | None = Field(None, description="set when the whole batch failed (e.g. read error)")
    not_started: bool = Field(False, description="the run had stopped sending before this batch started")
    write_error: str | None = Field(None, description="why the batch's rows did not reach Spanner")

    @property
    def settled_rows(self) -> int:
        """Rows this batch settled one way or another (the rest of a batch that failed whole did not)."""
        return self.done_before + self.from_cache + self.from_same_text + self.answered + len(self.failures)


class UpsertResult(BaseModel):
    """The final upsert: rows of batches that could not write their own, written from the row cache."""

    batches: int = 0
    themes_written: int = 0
    error: str | None = None


class FailureGroup(BaseModel):
    """The failed rows of one reason: how many, whether a rerun fixes them, what to do, a few ids."""

    reason: Reason
    rows: int
    rerun_fixes: bool
    what_to_do: str
    example_ids: list[str] = Field(default_factory=list, description="a few; the ThemeFailures table has them all")


class RunSummary(BaseModel):
    """The run's numbers; `themegen run --json` prints exactly these keys."""

    rows_total: int = 0
    rows_succeeded: int = Field(0, description="rows that hold current themes in Spanner after this run")
    rows_failed: int = 0
    # Every row of the run is in exactly one of: already done, from cache, from same text, answered,
    # answered by batch, failed (README, "What happened to each row").
    rows_already_done: int = Field(0, description="already in the sink for this input, model and prompt")
    rows_from_cache: int = Field(0, description="themes from the row cache, paid in an earlier run or attempt")
    rows_from_same_text: int = Field(0, description="themes of an identical text, answered earlier in this run or before")
    rows_answered: int = Field(0, description="answered by Gemini online in this run")
    rows_not_written: int = Field(0, description="have themes in the row cache but not in Spanner")
    rows_without_id: int = 0
    rows_to_theme: int = Field(0, description="rows the run read to settle (the done record left the rest out)")
    rows_failed_before: int = Field(0, description="of rows_failed: failed for good in an earlier run and unchanged, "
                                    "so not read and not sent again (retry_failed sends them)")
    rows_gone: int = Field(0, description="rows the sink holds whose id left the source table")
    continues_at: str | None = Field(None, description="when the scheduled continuation of a run stopped by the "
                                     "day's quota starts (ISO 8601, UTC)")
    llm_calls: int = 0
    llm_retries: int = 0
    http_429: int = 0
    themes_written: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_seconds: float = 0.0
    flow_run_id: str | None = None
    failures: list[FailureGroup] = Field(default_factory=list, description="failed rows by reason, most first")
    tier: str = Field("standard", description="how Gemini was bought (themegen/tiers/)")
    cost_usd: float | None = Field(None, description="at the tier's price; None when the model's price is unknown")
    cost_usd_standard: float | None = Field(None, description="the same tokens at the standard price")
    llm_calls_fallback: int = Field(0, description="requests sent at the standard price: on flex because the deadline "
                                    "neared (THEMEGEN_FLEX_FALLBACK), on batch for rows its job left missing or "
                                    "invalid; cost_usd counts them at that price")
    requests_saved: int = Field(0, description="rows that took the answer of an identical text (this run's or an "
                                "earlier one's) instead of a request of their own")
    inference_jobs: int = Field(0, description="batch jobs whose output this run read (tier batch; attached ones too)")
    batch_requests: int = Field(0, description="requests those jobs carried (rows_per_request rows each)")
    rows_answered_by_batch: int = Field(0, description="rows this run's batch jobs answered validly")
    rows_left_by_batch: int = Field(0, description="rows a batch job left missing or invalid: asked online")
    batch_queued_seconds: float = Field(0.0, description="from job creation until it was seen running (polled)")
    batch_processing_seconds: float = Field(0.0, description="from seen running until seen done (polled)")
    quality: dict[str, list[float]] = Field(default_factory=dict, description="the judged sample's rates, check -> "
                                            "[rate, 95% low, 95% high] (themegen/quality); empty when not judged")


class InferenceJobs(BaseModel):
    """What the batch tier's jobs did for a run; their tokens are priced at the batch tier's factor."""

    jobs: int = 0
    requests: int = 0
    rows_answered: int = 0
    rows_left_online: int = Field(0, description="rows the jobs left missing or invalid: asked online")
    input_tokens: int = 0
    output_tokens: int = 0
    queued_seconds: float = 0.0
    processing_seconds: float = 0.0

    def merge(self, other: InferenceJobs) -> None:
        """Add another job's counts; its times overlap this one's (jobs run side by side): the longest."""
        for name in ("jobs", "requests", "rows_answered", "rows_left_online", "input_tokens", "output_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.queued_seconds = max(self.queued_seconds, other.queued_seconds)
        self.processing_seconds = max(self.processing_seconds, other.processing_seconds)
