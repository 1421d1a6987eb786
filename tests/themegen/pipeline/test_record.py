"""What a batch tells the done record: one entry per row, from what the sink now holds for it."""

from __future__ import annotations

from themegen.domain.models import Reason, RowFailure, SourceRow, ThemeRecord
from themegen.pipeline.record import entries


def _failure(row_id: str, reason: Reason) -> RowFailure:
    return RowFailure(source_id=row_id, batch_id=0, reason=reason, error="x", attempts=1)


def test_every_row_gets_the_entry_of_what_the_sink_holds():
    rows = [SourceRow(id=i, text="t", source_hash=f"h{i}") for i in "abcdef"] + [SourceRow(id="g", text="t")]
    themed = [ThemeRecord(source_id="a", themes=["x"] * 6, model="m", prompt_version="v", prompt_fingerprint="f",
                          input_hash="ia")]
    failures = [_failure("c", Reason.BLOCKED), _failure("d", Reason.INPUT), _failure("e", Reason.TRANSIENT)]
    found = {e.source_id: e for e in entries(rows, themed, {"b": "ib"}, failures)}
    assert {i: (e.status, e.input_hash, e.reason) for i, e in found.items()} == {
        "a": ("themes", "ia", None),  # answered now
        "b": ("themes", "ib", None),  # the sink had it: the record is repaired
        "c": ("failed", None, "blocked"),  # for good: left out until the text changes or retry_failed
        "d": ("failed", None, "input"),
        "e": ("open", None, None),  # a rerun fixes it: never left out
        "f": ("open", None, None),  # not settled (e.g. not sent): an older 'done' can never speak for it
    }  # g has no source hash (a snapshot from before the record): no entry
    assert found["a"].source_hash == "ha"
