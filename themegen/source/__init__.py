"""The source port: where the rows come from, cut into deterministic batches and read batch by batch.

The one adapter today is BigQuery (bigquery/: a snapshot per run, batches read with the Storage
Read API); the pipeline only sees this interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from themegen.domain.models import BatchDescriptor, BatchPlan, SourceRow

if TYPE_CHECKING:
    from themegen.config.settings import Settings


class SourceConfigError(RuntimeError):
    """The source table or a column is missing; the message names the setting to fix."""


class Source(Protocol):
    def check_source(self) -> None:
        """SourceConfigError naming the setting when the table or a column is missing."""
        ...

    def plan(self, run_key: str, batch_size: int, row_limit: int | None = None, shard: int | None = None,
             shard_count: int = 1, max_batches: int = 2_000) -> BatchPlan:
        """The run's batches, the same for every retry of the run (`run_key`)."""
        ...

    def read_batch(self, batch: BatchDescriptor) -> list[SourceRow]: ...

    def count_rows(self) -> int:
        """Rows (distinct ids) a run would process."""
        ...


    def close(self) -> None: ...


def open_source(settings: Settings) -> Source:
    from themegen.source.bigquery.client import BigQuerySource

    return BigQuerySource(settings)
