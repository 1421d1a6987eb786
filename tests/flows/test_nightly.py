"""The nightly run costs what changed (issue 21): the done record in BigQuery leaves settled rows out
of the snapshot, the sink stays the truth, and a run with nothing to do says so.

Counted independently of the run: Gemini requests at the simulator, themes in Spanner, the record's
rows in BigQuery."""

from __future__ import annotations

import pytest

from flows.generate_themes import generate_themes
from local_stack.bigquery import seed_table
from tests.flows.helpers import theme_ids

ROWS, BATCH = 60, 20
TABLE = "nightly"


def _texts(n: int, start: int = 0) -> list[dict]:
    return [{"id": f"n{i:04d}", "text": f"nightly row {i}: the parcel arrived late and the price was fair"}
            for i in range(start, start + n)]


@pytest.fixture
def nightly(stack, monkeypatch):
    stack.clear_outputs()
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", TABLE)
    seed_table(stack.bigquery(), f"{stack.config.project}.{stack.config.dataset}.{TABLE}", _texts(ROWS))
    return f"{stack.config.project}.{stack.config.dataset}.{TABLE}"


def _sent(stack) -> int:
    return stack.sim("stats")["requests"]


def _record_rows(stack) -> int:
    return next(iter(stack.bigquery().query(f"SELECT COUNT(*) AS n FROM `{stack.done_record_table}`").result()))["n"]


async def _run(stack, **parameters):
    stack.sim("reset", {})
    summary = await generate_themes(batch_size=BATCH, **parameters)
    return summary, _sent(stack)


async def test_a_rerun_sends_exactly_the_edited_and_added_rows_and_nothing_when_nothing_changed(stack, nightly, caplog):
    first, sent = await _run(stack)
    assert sent == first.llm_calls == ROWS and first.rows_succeeded == ROWS
    assert _record_rows(stack) == ROWS  # every batch recorded what it wrote

    again, sent = await _run(stack)
    assert sent == again.llm_calls == 0
    assert (again.rows_to_theme, again.rows_already_done, again.rows_succeeded, again.rows_total) == (0, ROWS, ROWS, ROWS)
    assert f"0 rows to theme; {ROWS:,} already done" in caplog.text

    edited = ("n0003", "n0031")
    seed_table(stack.bigquery(), nightly, [r | ({"text": r["text"] + " (edited)"} if r["id"] in edited else {})
                                           for r in _texts(ROWS + 2)])
    changed, sent = await _run(stack)
    assert sent == changed.llm_calls == 4  # 2 edited + 2 added, no other row
    assert (changed.rows_to_theme, changed.rows_already_done, changed.rows_answered) == (4, ROWS - 2, 4)
    assert len(theme_ids(stack)) == ROWS + 2
    stamped = {r[0]: r[1] for r in stack.read_table("SELECT SourceId, InputHash FROM Themes WHERE SourceId IN "
                                                    "('n0003', 'n0031', 'n0060', 'n0061')")}
    assert len(stamped) == 4


async def test_a_missing_or_stale_record_costs_a_slower_run_never_a_wrong_skip_and_is_repaired(stack, nightly):
    await _run(stack)
    stack.drop_done_record()
    missing, sent = await _run(stack)
    assert sent == 0 and missing.rows_to_theme == ROWS and missing.rows_already_done == ROWS  # read all, sink said done
    repaired, sent = await _run(stack)
    assert sent == 0 and repaired.rows_to_theme == 0 and repaired.rows_already_done == ROWS

    # Stale the other way: the record says done, the sink was emptied behind its back.
    stack.database().run_in_transaction(lambda tx: tx.execute_update("DELETE FROM Themes WHERE TRUE"))
    emptied, sent = await _run(stack)
    # every row read and written again (from the row cache: paid once); none skipped on the record's word
    assert emptied.rows_to_theme == emptied.rows_from_cache == ROWS and sent == 0
    assert len(theme_ids(stack)) == ROWS


async def test_a_stale_entry_sends_nothing_the_sink_holds(stack, nightly):
    await _run(stack)
    # Entries made stale (another text's hash): those rows are read again, found done in the sink, recorded again.
    stack.bigquery().query(f"UPDATE `{stack.done_record_table}` SET source_hash = 'stale' "
                           "WHERE source_id IN ('n0001', 'n0002', 'n0003')").result()
    stale, sent = await _run(stack)
    assert sent == 0 and stale.rows_to_theme == 3 and stale.rows_already_done == ROWS
    after, sent = await _run(stack)
    assert sent == 0 and after.rows_to_theme == 0


async def test_rows_deleted_from_the_source_are_reported_and_deleted_only_when_asked(stack, nightly, monkeypatch, caplog):
    await _run(stack)
    stack.bigquery().query(f"DELETE FROM `{nightly}` WHERE id IN ('n0005', 'n0006')").result()
    kept, _ = await _run(stack)
    assert kept.rows_gone == 2 and "2 rows in the sink are no longer in" in caplog.text
    assert {"n0005", "n0006"} <= theme_ids(stack)

    monkeypatch.setenv("THEMEGEN_DELETE_GONE_ROWS", "true")
    deleted, _ = await _run(stack)
    assert deleted.rows_gone == 2 and not {"n0005", "n0006"} & theme_ids(stack)
    after, _ = await _run(stack)
    assert after.rows_gone == 0

    # A source that lost more than a tenth of the sink's rows looks like a wrong table: nothing is deleted.
    lost = [f"n{i:04d}" for i in range(10, 20)]
    stack.bigquery().query(f"DELETE FROM `{nightly}` WHERE id IN ({', '.join(repr(i) for i in lost)})").result()
    refused, _ = await _run(stack)
    assert refused.rows_gone == 10 and set(lost) <= theme_ids(stack) and "not deleting them" in caplog.text
