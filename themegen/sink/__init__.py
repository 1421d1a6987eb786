"""The sink port: where themes go, and the run's record of what is done (the ledger).

A row is done when the sink holds themes for it under the current model, prompt and input hash.
Each batch reads that for its ids (`stored`) and writes its own outcome (`write`) before it ends;
the sink is the truth, every other record (the row cache) may only make a run faster.

Adapters live in one folder each (spanner/, postgres/): `settings.py` (nested in the root Settings
under the folder's name, which is also the name THEMEGEN_SINK takes; it has at least `table` and
`failures_table`, which the report names), and a package `__init__` whose `open_sink(settings)`
and `ddl(settings)` import the client lazily. Choosing one is
`THEMEGEN_SINK=<name>`; the pipeline only sees this interface.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from themegen.domain.models import JudgementRecord, RowFailure, ThemeRecord
from themegen.taxonomy.models import CanonicalCounts, CanonicalTheme, DistinctTheme, ThemeMapping

if TYPE_CHECKING:
    from themegen.config.settings import Settings


@dataclass
class Stored:
    """What the sink holds for a batch's ids."""

    themes: dict[str, tuple] = field(default_factory=dict)  # id -> (model, prompt version, prompt fingerprint, input hash)
    failures: dict[str, tuple] = field(default_factory=dict)  # id -> (reason, error)


@dataclass
class Writes:
    """A batch's outcome: upserts, and deletes of rows they make stale."""

    themes: list[ThemeRecord] = field(default_factory=list)
    failures: list[RowFailure] = field(default_factory=list)
    delete_themes: list[str] = field(default_factory=list)
    delete_failures: list[str] = field(default_factory=list)


class SinkConfigError(RuntimeError):
    """The sink's database or tables are missing; the message names the settings and the fix."""


class SinkUnavailable(RuntimeError):
    """The sink did not answer within its deadline; the message names it and what to do."""


class Sink(Protocol):
    description: str  # e.g. "Spanner themegen/themegen (emulator at 127.0.0.1:9010)", for messages and reports
    failures_table: str  # where a person finds every failed row (the report names it)

    async def stored(self, row_ids: list[str]) -> Stored:
        """What the sink holds for these ids (retried within the sink's deadline, else SinkUnavailable)."""
        ...

    async def write(self, writes: Writes, flow_run_id: str | None) -> None:
        """Idempotent upserts and deletes (any part may be retried), else SinkUnavailable."""
        ...

    async def check_tables(self) -> None:
        """SinkConfigError naming the fix when the database, a table or a column is missing."""
        ...

    async def themes_of(self, row_ids: list[str]) -> dict[str, tuple[list[str], tuple]]:
        """id -> (themes, the stamp `stored` gives) for the ids that have themes (the quality judge's read)."""
        ...

    async def write_judgements(self, judgements: list[JudgementRecord], flow_run_id: str | None) -> None:
        """Idempotent upserts into the judgements table (one row per source id and judge model)."""
        ...

    # --- the taxonomy's tables (themegen/taxonomy): canonical themes and each theme string's mapping ---

    async def canonical_themes(self) -> list[CanonicalTheme]:
        """Every canonical theme and group (thousands at most: the vocabulary's clusters, not its strings)."""
        ...

    def distinct_themes(self, page_size: int) -> AsyncIterator[list[DistinctTheme]]:
        """Every distinct theme string of the themes table, with its mentions, rows and mapping, in pages of
        page_size in theme order: one streaming read, never the whole vocabulary in memory."""
        ...

    async def write_canonical(self, themes: list[CanonicalTheme]) -> None:
        """Idempotent upserts of canonical themes (all columns)."""
        ...

    async def write_mappings(self, mappings: list[ThemeMapping]) -> None:
        """Idempotent upserts of theme strings' canonical ids (None: embedded, fits none)."""
        ...

    async def count_canonical(self) -> CanonicalCounts:
        """Rows and mentions per canonical theme and group, counted over the themes table and the mapping."""
        ...

    async def write_counts(self, counts: dict[str, tuple[int, int]]) -> None:
        """Set (rows, mentions) of existing canonical themes; nothing else of them changes."""
        ...

    def close(self) -> None: ...


def _adapter(settings: Settings):
    return importlib.import_module(f"themegen.sink.{settings.sink}")


def open_sink(settings: Settings) -> Sink:
    return _adapter(settings).open_sink(settings)


def sink_ddl(settings: Settings) -> list[str]:
    """The statements that create the chosen sink's tables (`themegen ddl`)."""
    return _adapter(settings).ddl(settings)
