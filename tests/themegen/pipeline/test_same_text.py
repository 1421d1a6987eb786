"""Identical texts are paid once: within a batch, across concurrent batches of a run, and across
runs (the row cache under the text's key). The simulator counts the requests."""

from __future__ import annotations

import asyncio

from local_stack.gemini_sim import SimConfig, derive_themes, running_simulator
from tests.themegen.llm.gemini.test_generator import settings_for
from tests.themegen.pipeline.test_settle import MemorySink, edges, requests, settle
from themegen.domain.models import Reason, SourceRow

GREAT = "Great! Fast delivery and friendly support."


def rows(prefix: str, n: int, text: str = GREAT) -> list[SourceRow]:
    return [SourceRow(id=f"{prefix}{i:02d}", text=text) for i in range(n)]


async def test_twenty_rows_of_one_text_in_a_batch_cost_one_request(tmp_path):
    sink = MemorySink()
    batch = rows("g", 20) + [SourceRow(id="other", text="The app crashes on start.")]
    async with running_simulator() as url:
        result = await settle(batch, edges(settings_for(url), tmp_path, sink))
        assert await requests(url) == 2
    assert (result.answered, result.shared, result.from_same_text, result.written) == (2, 19, 19, 21)
    assert all(sink.themes[f"g{i:02d}"][0] == derive_themes(GREAT) for i in range(20))


async def test_concurrent_batches_wait_for_the_one_asking_and_a_later_run_asks_nothing(tmp_path):
    sink = MemorySink()
    # Slow answers: every batch starts while the first request for the text is still out.
    async with running_simulator(SimConfig(latency_s=0.3)) as url:
        e = edges(settings_for(url), tmp_path, sink)
        results = await asyncio.gather(*(settle(rows(f"b{b}-", 5), e) for b in range(4)))
        assert await requests(url) == 1
        later = await settle(rows("new-", 3), edges(settings_for(url), tmp_path, sink))  # a new run, new ids
        assert await requests(url) == 1
    assert sum(r.answered for r in results) == 1 and sum(r.shared for r in results) == 19
    assert len(sink.themes) == 23 and (later.shared, later.from_same_text) == (3, 3)


async def test_a_declined_text_is_declined_for_every_row_that_holds_it_and_paid_once(tmp_path):
    sink = MemorySink()
    async with running_simulator(SimConfig(finish_reason_rate=1.0, finish_reason="SAFETY")) as url:
        first = await settle(rows("d", 4), edges(settings_for(url), tmp_path, sink))
        again = await settle(rows("e", 2), edges(settings_for(url), tmp_path, sink))
        assert await requests(url) == 1
    assert [f.reason for f in first.failures + again.failures] == [Reason.BLOCKED] * 6
    assert sink.failures.keys() == {"d00", "d01", "d02", "d03", "e00", "e01"}


async def test_packed_requests_carry_each_distinct_text_once(tmp_path):
    sink = MemorySink()
    batch = rows("p", 5) + rows("q", 5, text="The app crashes on start.")
    async with running_simulator() as url:
        result = await settle(batch, edges(settings_for(url, rows_per_request=5), tmp_path, sink))
        assert await requests(url) == 1  # the two texts in one packed request
    assert (result.answered, result.shared, result.written) == (2, 8, 10)
    assert sink.themes["q04"][0] == derive_themes("The app crashes on start.")
