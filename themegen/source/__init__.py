"""The source port: where the rows come from, cut into deterministic batches and read batch by batch.

The one adapter today is BigQuery (bigquery/: a snapshot per run, batches read with the Storage
Read API); the pipeline only sees this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from themegen.domain.models import BatchDescriptor, BatchPlan, SourceRow

if TYPE_CHECKING:
    from themegen.config.settings import Settings


class SourceConfigError(RuntimeError):
    """The source table or a column is missing; the message names the setting to fix."""


@dataclass(frozen=True)
class DoneEntry:
    """What the sink holds for a row after a batch wrote it, for the source's done record: 'themes',
    'failed' (a failure a rerun does not fix: `reason`), 'open' (not done) or 'gone' (left the source)."""

    source_id: str
    source_hash: str
    status: str
    input_hash: str | None = None
    reason: str | None = None


class Source(Protocol):
    def check_source(self) -> None:
        """SourceConfigError naming the setting when the table or a column is missing."""
        ...

    def plan(self, run_key: str, batch_size: int, row_limit: int | None = None, shard: int | None = None,
             shard_count: int = 1, max_batches: int = 2_000, use_record: bool = True) -> BatchPlan:
        """The run's batches (rows with work), the same for every retry of the run (`run_key`).
        use_record=False reads every row (a record found stale)."""
        ...

    def read_batch(self, batch: BatchDescriptor) -> list[SourceRow]: ...

    def record(self, entries: list[DoneEntry]) -> None:
        """Keep what a batch wrote to the sink beside the source, so the next plan leaves done rows out
        (a speed-up only: the sink stays the truth). Raises on failure; callers treat it as best effort."""
        ...

    def done_sample(self, size: int) -> dict[str, str]:
        """Up to `size` rows the done record calls done (a different few each call): id -> input hash."""
        ...

    def gone_ids(self, shard: int | None = None, shard_count: int = 1) -> list[str]:
        """Ids the record says the sink holds that left the source table (for deleting them from the sink)."""
        ...

    def count_rows(self) -> int:
        """Rows (distinct ids) a run would process."""
        ...

    def column_values(self, column: str, ids: list[str]) -> dict[str, str | None]:
        """A source column's value (as text) for each of these ids: what the quality sample is
        stratified by (THEMEGEN_QUALITY_STRATIFY)."""
        ...

    def close(self) -> None: ...


def open_source(settings: Settings) -> Source:
    from themegen.source.bigquery.client import BigQuerySource

    return BigQuerySource(settings)
