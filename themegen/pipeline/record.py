"""A batch's outcome, kept beside the source (the source's done record) once the sink took it.

Every row of the batch gets an entry, also the rows the sink already held (which repairs a record
that was missing or stale) and the rows left unfinished ('open', so an older 'done' entry can never
speak for them). Best effort: a record that could not be written costs the next run a slower plan
for these rows, never a wrong skip (themegen/source/bigquery/done_record.py).
"""

from __future__ import annotations

import asyncio
import logging

from themegen.domain.models import PERMANENT, Reason, RowFailure, SourceRow, ThemeRecord
from themegen.source import DoneEntry

log = logging.getLogger(__name__)
# Failures a rerun does not fix: the next plan leaves these rows out unless their text changes or retry_failed.
FOR_GOOD = PERMANENT | {Reason.INPUT}


def entries(rows: list[SourceRow], themed: list[ThemeRecord], done_before: dict[str, str],
            failures: list[RowFailure]) -> list[DoneEntry]:
    """One entry per row that has a source hash (pure). done_before: row id -> the input hash the sink holds."""
    hashes = {r.source_id: r.input_hash for r in themed} | done_before
    failed = {f.source_id: f.reason for f in failures}
    out = []
    for row in rows:
        if row.source_hash is None:
            continue
        if row.id in hashes:
            out.append(DoneEntry(row.id, row.source_hash, "themes", hashes[row.id]))
        elif (reason := failed.get(row.id)) in FOR_GOOD:
            out.append(DoneEntry(row.id, row.source_hash, "failed", reason=reason.value))
        else:
            out.append(DoneEntry(row.id, row.source_hash, "open"))
    return out


async def keep(source, found: list[DoneEntry], batch_id: int) -> None:
    try:
        await asyncio.to_thread(source.record, found)
    except Exception as exc:  # noqa: BLE001 - the record only makes the next plan faster
        log.warning("batch %s: the done record was not updated (%s: %s); the next run checks these rows in the "
                    "sink again", batch_id, type(exc).__name__, exc)
