"""A batch settled against the run's record: Spanner (an in-memory sink with the same two calls)
says what is done, the row cache what was paid for, Gemini (the simulator) answers the rest."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import httpx

from local_stack.gemini_sim import SimConfig, derive_themes, running_simulator
from themegen.tiers.policy import request_policy
from themegen.domain import prompt
from themegen.pipeline.settle import settle_batch
from themegen.cache import CacheReadError
from themegen.cache.sqlite.client import LocalCache
from themegen.domain.generation import Generation
from themegen.pipeline.edges import Edges
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.domain.models import Reason, SourceRow
from themegen.sink import SinkUnavailable, Stored, Writes
from tests.themegen.llm.gemini.test_generator import TEXT, settings_for

ROWS = [SourceRow(id=f"b{i:02d}", text=None if i == 7 else f"{TEXT} Row {i}.") for i in range(12)]


class MemorySink:
    """Spanner's two tables as dicts, behind the sink's interface."""

    description = "Spanner t/t"
    failures_table = "ThemeFailures"

    def __init__(self) -> None:
        self.themes: dict[str, tuple] = {}
        self.failures: dict[str, tuple] = {}
        self.down = False

    async def stored(self, ids: list[str]) -> Stored:
        return Stored({i: self.themes[i][1:] for i in ids if i in self.themes},
                      {i: self.failures[i] for i in ids if i in self.failures})

    async def write(self, writes: Writes, flow_run_id: str | None) -> None:
        if self.down:
            raise SinkUnavailable("Spanner t/t did not answer")
        for r in writes.themes:
            self.themes[r.source_id] = (r.themes, r.model, r.prompt_version, r.prompt_fingerprint, r.input_hash)
        for f in writes.failures:
            self.failures[f.source_id] = (f.reason.value, f.error)
        for i in writes.delete_themes:
            self.themes.pop(i)
        for i in writes.delete_failures:
            self.failures.pop(i)


async def requests(base_url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base_url}/_sim/stats")).json()["requests"]


def edges(settings, tmp_path, sink: MemorySink) -> Edges:
    return Edges(settings, source=None, sink=sink, cache=LocalCache(tmp_path), generation=Generation.of(settings),
                 policy=request_policy(settings))


async def settle(rows, e: Edges):
    return await settle_batch(rows, 0, e, GeminiGenerator(e.settings, e.stop))


async def test_packed_rows_map_back_a_bad_item_is_asked_alone_and_a_rerun_touches_nothing(tmp_path):
    sink = MemorySink()
    async with running_simulator(SimConfig(fail_ids=["b03"], fail_mode="five_themes", fail_times=1)) as url:
        e = edges(settings_for(url, rows_per_request=5), tmp_path, sink)
        first = await settle(ROWS, e)
        assert await requests(url) == 3 + 1  # 11 texts in packs of 5, 5, 1; then b03 alone
        again = await settle(ROWS, e)
        assert await requests(url) == 4  # Spanner says every row is done: no call, no cache read

    assert (first.answered, first.written, len(first.failures)) == (11, 11, 1)
    assert first.failures[0].source_id == "b07" and first.failures[0].reason == Reason.INPUT
    assert first.rejected_items == {"expected N themes, got N": 1}
    for row in ROWS:
        if row.text is not None:
            assert sink.themes[row.id][0] == derive_themes(row.text)
    assert (again.done_before, again.from_cache, again.answered, again.written) == (11, 0, 0, 0)
    assert again.failures[0].reason == Reason.INPUT and sink.failures.keys() == {"b07"}


async def test_answers_in_the_cache_are_written_without_calls_when_spanner_lost_them(tmp_path):
    async with running_simulator() as url:
        await settle(ROWS, edges(settings_for(url), tmp_path, MemorySink()))
        sent = await requests(url)
        result = await settle(ROWS, edges(settings_for(url), tmp_path, fresh := MemorySink()))
        assert await requests(url) == sent
    assert (result.from_cache, result.written, len(fresh.themes)) == (11, 11, 11)


async def test_permanent_failures_are_paid_once_unless_retry_failed(tmp_path):
    rows = ROWS[:3]
    async with running_simulator(SimConfig(finish_reason_rate=1.0, finish_reason="SAFETY")) as url:
        sink = MemorySink()
        first = await settle(rows, edges(settings_for(url), tmp_path, sink))
        sent = await requests(url)
        again = await settle(rows, edges(settings_for(url), tmp_path, sink))
        assert await requests(url) == sent == 3
        forced = await settle(rows, edges(settings_for(url, retry_failed=True), tmp_path, sink))
        assert await requests(url) == 6
    assert [f.reason for f in first.failures] == [Reason.BLOCKED] * 3
    assert [f.reason for f in again.failures] == [Reason.BLOCKED] * 3
    assert [f.error for f in again.failures] == [f.error for f in first.failures]  # Spanner's rows stay as they are
    assert len(forced.failures) == 3 and sink.failures.keys() == {r.id for r in rows}


async def test_a_row_that_now_fails_loses_its_stale_themes_and_a_fixed_row_its_failure(tmp_path):
    sink = MemorySink()
    async with running_simulator() as url:
        e = edges(settings_for(url), tmp_path, sink)
        await settle(ROWS, e)
        changed = [SourceRow(id="b01", text=None), SourceRow(id="b07", text="Now it has a text to theme.")]
        result = await settle(changed, e)
    assert "b01" not in sink.themes and sink.failures["b01"][0] == "input"
    assert "b07" in sink.themes and "b07" not in sink.failures
    assert result.answered == 1


async def test_editing_the_prompt_regenerates_every_row_and_editing_nothing_none(tmp_path, monkeypatch):
    sink = MemorySink()
    async with running_simulator() as url:
        e = edges(settings_for(url), tmp_path, sink)
        await settle(ROWS, e)
        await settle(ROWS, e)
        assert await requests(url) == 11
        monkeypatch.setattr(prompt, "SYSTEM_INSTRUCTION", prompt.SYSTEM_INSTRUCTION + " Prefer nouns.")
        result = await settle(ROWS, edges(settings_for(url), tmp_path, sink))  # the next run: the edited prompt
        assert await requests(url) == 22
    assert result.answered == result.written == 11
    assert {v[3] for v in sink.themes.values()} == {prompt.Prompt(prompt.SYSTEM_INSTRUCTION).fingerprint}


async def test_a_sink_that_fails_stops_the_run_and_keeps_the_answers_in_the_cache(tmp_path):
    sink = MemorySink()
    sink.down = True
    async with running_simulator() as url:
        e = edges(settings_for(url), tmp_path, sink)
        result = await settle(ROWS, e)
        later = await settle([SourceRow(id="z1", text=TEXT)], e)
        assert await requests(url) == 11  # nothing sent after the sink failed
    assert result.write_error and "Spanner" in result.write_error and result.not_written == 11
    assert e.stop.tripped and "Spanner" in e.stop.reason
    assert later.failures[0].reason == Reason.NOT_SENT
    with closing(sqlite3.connect(tmp_path / "answers.sqlite3")) as db:
        # paid for, kept for the rerun (by row; and by text, for other rows with the same text)
        assert db.execute("SELECT COUNT(*) FROM answers WHERE key LIKE 'answers/%'").fetchone()[0] == 11


class BrokenCache(LocalCache):
    async def get_many(self, keys):
        raise CacheReadError("row cache x could not be read: disk I/O error")


async def test_a_cache_that_cannot_be_read_costs_no_call_and_says_why(tmp_path):
    async with running_simulator() as url:
        settings = settings_for(url)
        e = Edges(settings, source=None, sink=MemorySink(), cache=BrokenCache(tmp_path), generation=Generation.of(settings),
                 policy=request_policy(settings))
        result = await settle(ROWS, e)
        assert await requests(url) == 0
    assert {f.reason for f in result.failures} == {Reason.CACHE_ERROR, Reason.INPUT}
    assert "disk I/O error" in next(f.error for f in result.failures if f.reason == Reason.CACHE_ERROR)

