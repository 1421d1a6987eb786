"""The Sink port's contract, run against every adapter (the `sink` fixture: the Spanner emulator, and
PostgreSQL): what the pipeline relies on when it asks what is done and writes a batch's outcome.
The sink's tables are read with the database's own client, never through the adapter under test."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Iterator

import pytest

from local_stack.processes import free_port
from tests.conftest import FailureRow
from themegen.config.settings import Settings
from themegen.domain.models import JudgementRecord, Reason, RowFailure, ThemeRecord
from themegen.sink import SinkConfigError, SinkUnavailable, Stored, Writes, open_sink, sink_ddl
from themegen.taxonomy.models import CanonicalTheme, ThemeMapping

THEMES = ["配送の遅れ", "it's late", 'a "quoted" theme', "refund", "support", "packaging"]
STAMP = ("m", "v1", "fp", "0" * 64)  # what stored() holds for a row done under this generation
# Commits of 100 theme rows on either sink: Spanner counts 7 mutations per row, PostgreSQL rows.
SMALL_COMMITS = {"spanner": {"spanner_mutations_per_commit": 700}, "postgres": {"postgres_rows_per_commit": 100}}


def sid(i: int) -> str:
    return f"s-{i:04d}"


def record(i: int, themes: list[str] = THEMES) -> ThemeRecord:
    return ThemeRecord(source_id=sid(i), themes=themes, model=STAMP[0], prompt_version=STAMP[1],
                       prompt_fingerprint=STAMP[2], input_hash=STAMP[3])


def failure(i: int, reason: Reason = Reason.TRANSIENT, error: str = "boom") -> RowFailure:
    return RowFailure(source_id=sid(i), batch_id=7, reason=reason, error=error, attempts=3)


@pytest.fixture
def adapter(sink) -> Iterator:
    """Opens the sink the test runs on (THEMEGEN_SINK is set), with settings overrides; closes them all."""
    opened = []

    def open_(**overrides):
        opened.append(open_sink(Settings(**overrides)))
        return opened[-1]

    sink.clear_outputs()
    yield open_
    for each in opened:
        each.close()


async def test_what_is_written_is_what_stored_reports(sink, adapter):
    writer = adapter()
    await writer.write(Writes(themes=[record(1), record(2)], failures=[failure(3)]), flow_run_id="run-1")

    stored = await writer.stored([sid(i) for i in (1, 2, 3, 4)])
    assert stored.themes == {sid(1): STAMP, sid(2): STAMP}
    assert stored.failures == {sid(3): ("transient", "boom")}
    assert await writer.stored([]) == Stored()
    themes = sink.themes()
    assert set(themes) == {sid(1), sid(2)}
    assert themes[sid(1)].themes == THEMES and themes[sid(1)].generated_at is not None
    assert sink.failures() == {sid(3): FailureRow(7, "transient", "boom", 3, "run-1")}


async def test_writing_the_same_outcome_again_is_harmless_and_a_new_one_replaces_it(sink, adapter):
    writer = adapter()
    writes = Writes(themes=[record(1), record(2)], failures=[failure(3)])
    await writer.write(writes, flow_run_id="run-1")
    await writer.write(writes, flow_run_id="run-1")  # a retried commit, or a retried flow run

    assert sink.theme_rows() == 2 and len(sink.failures()) == 1
    await writer.write(Writes(themes=[record(1, ["new"] * 6)], failures=[failure(3, Reason.BLOCKED, "no")]), "run-2")
    assert sink.themes()[sid(1)].themes == ["new"] * 6 and sink.theme_rows() == 2
    assert sink.failures() == {sid(3): FailureRow(7, "blocked", "no", 3, "run-2")}
    await writer.write(Writes(), flow_run_id=None)  # a batch with nothing to write


async def test_deletes_remove_what_a_new_outcome_makes_stale(sink, adapter):
    writer = adapter()
    await writer.write(Writes(themes=[record(1)], failures=[failure(2)]), flow_run_id="run-1")

    # s-0001 now fails (its old themes go), s-0002 now has themes (its old failure goes)
    await writer.write(Writes(themes=[record(2)], failures=[failure(1)], delete_themes=[sid(1)],
                              delete_failures=[sid(2)]), flow_run_id="run-2")

    assert sink.theme_ids() == {sid(2)}
    assert set(sink.failures()) == {sid(1)}
    stored = await writer.stored([sid(1), sid(2)])
    assert set(stored.themes) == {sid(2)} and set(stored.failures) == {sid(1)}


async def test_a_large_write_lands_whole_in_bounded_commits(sink, adapter):
    writer = adapter(**SMALL_COMMITS[sink.name])
    themes, failures = [record(i) for i in range(2_500)], [failure(i) for i in range(2_500, 2_800)]

    await writer.write(Writes(themes=themes, failures=failures), flow_run_id="run-1")

    assert writer.commits == math.ceil(2_500 / 100) + math.ceil(300 / 100)
    assert sink.theme_rows() == 2_500 and len(sink.failures()) == 300
    stored = await writer.stored([sid(i) for i in range(2_800)])
    assert len(stored.themes) == 2_500 and len(stored.failures) == 300
    await writer.write(Writes(delete_themes=[sid(i) for i in range(2_500)]), flow_run_id=None)
    assert sink.theme_rows() == 0


async def test_the_batches_of_a_run_share_one_sink(sink, adapter):
    """Up to max_parallel_batches (50) batches read and write through one sink at once."""
    writer = adapter()
    await asyncio.gather(*(writer.write(Writes(themes=[record(i)]), flow_run_id=None) for i in range(50)))
    stored = await asyncio.gather(*(writer.stored([sid(i)]) for i in range(50)))
    assert all(found.themes == {sid(i): STAMP} for i, found in enumerate(stored))
    assert sink.theme_rows() == 50


async def test_it_names_its_failures_table_and_itself_for_the_report(sink, adapter):
    writer = adapter()
    assert writer.failures_table == Settings().sink_settings.failures_table
    assert writer.description.split()[0] in ("Spanner", "PostgreSQL") and "themegen" in writer.description


@pytest.mark.parametrize("missing", ["table", "failures_table", "canonical_table", "theme_map_table"])
async def test_check_tables_passes_on_the_stack_and_names_the_fix_for_a_missing_table(sink, adapter, missing):
    await adapter().check_tables()
    with pytest.raises(SinkConfigError) as raised:
        await adapter(**{f"{sink.name}_{missing}": "NoSuchTable"}).check_tables()
    assert f"THEMEGEN_{sink.name.upper()}_" in str(raised.value) and "themegen ddl" in str(raised.value)


def test_its_ddl_creates_the_configured_tables_every_time_it_is_asked(sink, adapter):
    adapter().close()  # the adapter's modules are loaded: they must not shadow its ddl()
    settings = Settings()
    statements = sink_ddl(settings)
    assert statements == sink_ddl(settings) and len(statements) == 5
    tables = (settings.sink_settings.table, settings.sink_settings.failures_table, settings.sink_settings.judgements_table,
              settings.sink_settings.canonical_table, settings.sink_settings.theme_map_table)
    for statement, table in zip(statements, tables, strict=True):
        assert statement.startswith("CREATE TABLE") and table in statement.splitlines()[0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel does, into the backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.mark.parametrize(("server", "call"), [("refused", "write"), ("silent", "stored")])
async def test_an_unreachable_sink_raises_sink_unavailable_within_its_deadline(sink, adapter, monkeypatch, request,
                                                                              server, call):
    port = request.getfixturevalue("silent_server") if server == "silent" else free_port()
    if sink.name == "spanner":
        monkeypatch.setenv("SPANNER_EMULATOR_HOST", f"127.0.0.1:{port}")
    else:
        monkeypatch.setenv("THEMEGEN_POSTGRES_DSN", f"postgresql://postgres:secret-pw@127.0.0.1:{port}/themegen")
    deadline_s = 2
    unreachable = adapter(**{f"{sink.name}_deadline_s": deadline_s})

    started = time.monotonic()
    with pytest.raises(SinkUnavailable) as raised:
        if call == "write":
            await unreachable.write(Writes(themes=[record(1)]), flow_run_id=None)
        else:
            await unreachable.stored([sid(1)])

    # the last attempt may start at the deadline and gets at least a second
    assert time.monotonic() - started < deadline_s + 2
    message = str(raised.value)
    assert message.startswith(unreachable.description) and f"127.0.0.1:{port}" in message
    assert f"THEMEGEN_{sink.name.upper()}_DEADLINE_S" in message and "without calling Gemini" in message
    assert "secret-pw" not in message


def judgement(i: int, judge_model: str = "judge", verdicts: list[str] | None = None) -> JudgementRecord:
    return JudgementRecord(source_id=sid(i), judge_model=judge_model, rubric_version="r1", themes=THEMES,
                           verdicts=verdicts or ["1111"] * 6, cover=True, model=STAMP[0],
                           prompt_fingerprint=STAMP[2], input_hash=STAMP[3])


async def test_the_judge_reads_the_themes_and_its_judgements_are_upserted_per_row_and_judge(sink, adapter):
    writer = adapter()
    await writer.write(Writes(themes=[record(1), record(2)], failures=[failure(3)]), flow_run_id="run-1")
    assert await writer.themes_of([sid(1), sid(3), sid(4)]) == {sid(1): (THEMES, STAMP)}

    await writer.write_judgements([judgement(1), judgement(2), judgement(1, "other-judge")], "run-1")
    await writer.write_judgements([judgement(1, verdicts=["1011"] * 6)], "run-2")  # judged again: replaced
    judgements = sink.rows(sink._JUDGEMENTS)
    assert len(judgements) == 3
    by_key = {(row[0], row[4]): row for row in judgements}
    assert by_key[(sid(1), "judge")][2] == ["1011"] * 6 and by_key[(sid(1), "judge")][5] == "run-2"
    assert by_key[(sid(2), "judge")][1] == THEMES and by_key[(sid(2), "judge")][3] is True
    await writer.write_judgements([], None)


# --- the taxonomy's tables (themegen/taxonomy) -----------------------------------------------------

def canonical(i: int, level: int = 1, parent: str | None = None) -> CanonicalTheme:
    return CanonicalTheme(id=f"L{level}-{i:05d}", level=level, parent_id=parent, name_en=f"theme {i}", name_ja="配送",
                          examples=["late delivery", "配送の遅れ"], mentions=3, centroid=[0.5] * 256, fingerprint="fp")


async def test_canonical_themes_mappings_and_counts_round_trip(sink, adapter, monkeypatch):
    # Spanner counts a key range of rows at a time: here one row each, so the ranges' counts must add up.
    monkeypatch.setattr("themegen.sink.spanner.taxonomy.ROWS_PER_COUNT", 1)
    writer = adapter()
    await writer.write(Writes(themes=[record(1, ["late", "slow", "late", "refund", "new", "x"]),
                                      record(2, ["late", "refund", "a", "b", "c", "d"])]), flow_run_id=None)
    await writer.write_canonical([canonical(2, 2), canonical(1, 1, "L2-00002"), canonical(3, 1, "L2-00002")])
    await writer.write_mappings([ThemeMapping(theme="late", canonical_id="L1-00001", similarity=0.9, fingerprint="fp"),
                                 ThemeMapping(theme="slow", canonical_id="L1-00001", similarity=0.8, fingerprint="fp"),
                                 ThemeMapping(theme="refund", canonical_id="L1-00003", fingerprint="fp"),
                                 ThemeMapping(theme="x", canonical_id=None, fingerprint="fp")])

    stored = await writer.canonical_themes()
    assert [c.id for c in stored] == ["L1-00001", "L1-00003", "L2-00002"]
    assert stored[0] == canonical(1, 1, "L2-00002") and stored[0].centroid == [0.5] * 256
    counts = await writer.count_canonical()
    # "late" twice in row 1 and once in row 2: 2 rows, 3 mentions (and "slow" once more)
    assert counts.by_id == {"L1-00001": (2, 4), "L1-00003": (2, 2), "L2-00002": (2, 6)}
    assert (counts.rows_with_themes, counts.mentions, counts.mentions_mapped) == (2, 12, 6)

    await writer.write_counts({c: counts.by_id.get(c, (0, 0)) for c in ("L1-00001", "L1-00003", "L2-00002")})
    assert {c.id: (c.rows, c.mentions, c.name_en) for c in await writer.canonical_themes()} == {
        "L1-00001": (2, 4, "theme 1"), "L1-00003": (2, 2, "theme 3"), "L2-00002": (2, 6, "theme 2")}


async def test_distinct_themes_stream_in_pages_with_their_mapping(sink, adapter):
    writer = adapter()
    await writer.write(Writes(themes=[record(i, [f"t{i % 7}", f"t{i % 5}", "same", "same", f"u{i}", "配送"])
                                      for i in range(40)]), flow_run_id=None)
    await writer.write_mappings([ThemeMapping(theme="same", canonical_id="L1-00001", fingerprint="fp"),
                                 ThemeMapping(theme="u3", canonical_id=None, fingerprint="fp")])

    pages = [page async for page in writer.distinct_themes(page_size=10)]

    assert [len(p) for p in pages] == [10, 10, 10, 10, 9]  # t0..t6, same, 40 u's, 配送
    themes = {d.theme: d for page in pages for d in page}
    assert len(themes) == 49  # each once
    assert [d.theme for page in [p async for p in writer.distinct_themes(page_size=7)] for d in page] == [
        d.theme for page in pages for d in page]  # the same order every time (the sample is drawn in it)
    assert (themes["same"].mentions, themes["same"].mapped, themes["same"].canonical_id) == (80, True, "L1-00001")
    assert (themes["u3"].mapped, themes["u3"].canonical_id) == (True, None)
    assert (themes["t0"].mentions, themes["t0"].mapped) == (14, False)  # rows 0, 35: twice each
    assert themes["配送"].mentions == 40
