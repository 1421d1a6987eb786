"""The run's tally: every batch's counters added up as batches finish (constant size per run).

Batch tasks add their own result here before they end, so the counts survive a Prefect API that
cannot take the task's final state; the flow reads the tally, never a list of rows.
"""

from __future__ import annotations

import time
from collections import Counter

from pydantic import BaseModel, Field, PrivateAttr

from themegen.domain.models import BatchResult, LlmUsage, Reason
from themegen.report.timeline import RunTimeline

EXAMPLES_PER_REASON = 5


class FailureExample(BaseModel):
    source_id: str
    batch_id: int
    error: str


class RunTally(BaseModel):
    rows: int = 0
    done_before: int = 0
    from_cache: int = 0
    from_same_text: int = 0
    shared: int = Field(0, description="rows that took the outcome of an identical text (requests saved)")
    answered: int = 0
    written: int = 0
    not_written: int = 0
    failed: Counter[Reason] = Field(default_factory=Counter)
    examples: dict[Reason, list[FailureExample]] = Field(default_factory=dict)
    rejected_items: Counter[str] = Field(default_factory=Counter)
    usage: LlmUsage = Field(default_factory=LlmUsage)
    batch_errors: dict[int, str] = Field(default_factory=dict, description="batch id -> why it failed as a whole")
    rerun_batches: set[int] = Field(default_factory=set, description="batches a plain rerun has work for")
    unwritten_batches: dict[int, bool] = Field(
        default_factory=dict, description="batches whose rows did not reach Spanner -> whether the batch failed whole")
    batches_done: int = 0
    stop_reason: str | None = None
    timeline: RunTimeline = Field(default_factory=RunTimeline, description="rows and 429s over the run's time")
    _started: float = PrivateAttr(default_factory=time.monotonic)  # the run's time 0: when its tally began

    def add(self, result: BatchResult, at_s: float | None = None) -> None:
        """Count a batch that ended at_s seconds into the run (default: now)."""
        ended = time.monotonic() - self._started if at_s is None else at_s
        if not result.not_started:  # took no time: its rows are counted as not sent, not settled
            self.timeline.add(ended - result.seconds, ended, result.rows, result.usage.http_429)
        self.batches_done += 1
        self.rows += result.rows
        self.done_before += result.done_before
        self.from_cache += result.from_cache
        self.from_same_text += result.from_same_text
        self.shared += result.shared
        self.answered += result.answered
        self.written += result.written
        self.not_written += result.not_written
        self.usage.merge(result.usage)
        self.rejected_items.update(result.rejected_items)
        for failure in result.failures:
            self.failed[failure.reason] += 1
            examples = self.examples.setdefault(failure.reason, [])
            if len(examples) < EXAMPLES_PER_REASON:
                examples.append(FailureExample(source_id=failure.source_id, batch_id=failure.batch_id,
                                               error=failure.error[:300]))
        if result.error:
            self.batch_errors[result.batch_id] = result.error[:500]
            unsettled = result.rows - result.settled_rows
            self.failed[Reason.NOT_SENT if result.not_started else Reason.BATCH_ERROR] += unsettled
        if (result.error and not result.not_started) or result.write_error:
            self.unwritten_batches[result.batch_id] = bool(result.error)
        if result.error or result.write_error or any(f.retryable for f in result.failures):
            self.rerun_batches.add(result.batch_id)

    def settled_later(self, result: BatchResult) -> None:
        """The final upsert settled this batch again from Spanner and the row cache (no Gemini)."""
        self.written += result.written
        if self.unwritten_batches.pop(result.batch_id):  # failed whole: its rows were counted as BATCH_ERROR
            recovered = result.done_before + result.from_cache + result.from_same_text
            self.failed[Reason.BATCH_ERROR] = max(0, self.failed[Reason.BATCH_ERROR] - recovered)
            self.done_before += result.done_before
            self.from_cache += result.from_cache
            self.from_same_text += result.from_same_text
        else:  # answered, then the write failed
            self.not_written = max(0, self.not_written - result.written)

    @property
    def rows_failed(self) -> int:
        return sum(self.failed.values())

    @property
    def rows_succeeded(self) -> int:
        """Rows with current themes: already there, or answered (cache or Gemini) and written."""
        return self.done_before + self.from_cache + self.from_same_text + self.answered - self.not_written
