"""How many batch tasks one process runs at once, and when a batch takes its slot of the `gemini`
limit (the flow-level behaviour is in tests/flows)."""

from __future__ import annotations

from local_stack.gemini_sim import running_simulator
from tasks.generate_batch import batches_at_once
from tests.themegen.llm.gemini.test_generator import settings_for
from tests.themegen.pipeline.test_settle import ROWS, MemorySink, edges, requests
from themegen.pipeline.settle import settle_batch
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.config.settings import Settings


def test_one_process_runs_all_parallel_batches():
    assert batches_at_once(Settings(max_parallel_batches=50), batch_rows=100) == 50


def test_shards_together_stay_within_the_tag_limit():
    shards = 3
    per_shard = batches_at_once(Settings(max_parallel_batches=50, quota_share=shards), batch_rows=100)
    assert per_shard == 16
    assert per_shard * shards <= 50


def test_a_shard_always_runs_at_least_one_batch():
    assert batches_at_once(Settings(max_parallel_batches=2, quota_share=4), batch_rows=100) == 1


def test_rows_in_flight_stay_capped_as_batches_grow_with_the_table():
    settings = Settings(max_parallel_batches=50, max_rows_in_flight=20_000)
    # 10M rows in at most 2,000 batches: 5,000 rows each, so 4 at once instead of 50 (250,000 rows).
    assert batches_at_once(settings, batch_rows=5_000) == 4
    assert batches_at_once(settings, batch_rows=1_000) == 20
    assert batches_at_once(settings, batch_rows=50_000) == 1  # never none


class CountingSlot:
    """A BatchSlot stand-in: how often the batch asked, and how many requests the simulator had
    counted when it first did."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.takes = 0
        self.requests_at_first_take: int | None = None

    async def take(self) -> None:
        if self.requests_at_first_take is None:
            self.requests_at_first_take = await requests(self.url)
        self.takes += 1


async def test_a_batch_takes_its_slot_before_its_first_request_and_a_done_batch_none(tmp_path):
    sink = MemorySink()
    async with running_simulator() as url:
        e = edges(settings_for(url, rows_per_request=5), tmp_path, sink)
        first = CountingSlot(url)
        await settle_batch(ROWS, 0, e, GeminiGenerator(e.settings, e.stop, before_sending=first.take))
        again = CountingSlot(url)
        await settle_batch(ROWS, 0, e, GeminiGenerator(e.settings, e.stop, before_sending=again.take))
    assert first.requests_at_first_take == 0 and first.takes == 3  # packs of 5, 5 and 1 row
    assert again.takes == 0  # every row done: no slot, no call
