"""A batch's slot of the `gemini` tag limit against the stack's Prefect server: taken once however
many requests ask, handed to the loop's next batch or given back to the server KEEP_S after its
batch ends, waited for while the limit is full (across pools, as processes are), never taken when
nothing is sent, not waited for once the run has stopped, renewed while held; a missing limit holds
nothing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectNotFound

from themegen.limiter import batch_slot
from themegen.limiter.batch_slot import GEMINI_LIMIT, BatchSlot, SlotPool

LIMIT = "tag:test-batch-slot"
KEEP_S = 0.5


async def _tag_limit(limit: int) -> None:
    async with get_client() as client:
        await client.create_concurrency_limit(tag=LIMIT.removeprefix("tag:"), concurrency_limit=limit)


async def _active_slots() -> int:
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(LIMIT)).active_slots


@pytest.fixture
async def tag_limit(stack, monkeypatch):
    monkeypatch.setattr(batch_slot, "KEEP_S", KEEP_S)
    yield _tag_limit
    async with get_client() as client:
        with contextlib.suppress(ObjectNotFound):
            await client.delete_concurrency_limit_by_tag(LIMIT.removeprefix("tag:"))


def test_the_limit_is_prefects_name_for_the_gemini_tag_limit():
    assert GEMINI_LIMIT == "tag:gemini"


async def test_one_slot_per_batch_however_many_requests_ask_and_back_after_keep_s(tag_limit):
    await tag_limit(5)
    pool = SlotPool(LIMIT)
    slot = BatchSlot(pool)
    await asyncio.gather(*(slot.take() for _ in range(20)))
    await slot.take()
    assert slot.lease is not None and await _active_slots() == 1
    slot.release()
    slot.release()  # twice is harmless
    assert await _active_slots() == 1  # kept for the loop's next batch
    await asyncio.sleep(KEEP_S + 0.5)
    assert await _active_slots() == 0
    assert pool.calls == {"take": 1, "refused": 0, "release": 1, "handed_on": 0}


async def test_the_next_batch_gets_the_slot_without_a_server_call_and_close_gives_it_back(tag_limit):
    await tag_limit(5)
    pool = SlotPool(LIMIT)
    for _ in range(5):
        slot = BatchSlot(pool)
        await slot.take()
        slot.release()
    assert pool.calls == {"take": 1, "refused": 0, "release": 0, "handed_on": 4}
    assert await _active_slots() == 1
    await pool.close()
    assert await _active_slots() == 0 and pool.calls["release"] == 1


async def test_a_batch_that_sends_nothing_takes_nothing(tag_limit, monkeypatch):
    await tag_limit(5)
    calls = []
    monkeypatch.setattr(PrefectClient, "increment_concurrency_slots_with_lease", lambda *a, **k: calls.append(a))
    BatchSlot(SlotPool(LIMIT)).release()
    assert calls == [] and await _active_slots() == 0


async def test_a_full_limit_makes_another_process_wait_until_a_slot_comes_back(tag_limit):
    await tag_limit(1)
    first, second = BatchSlot(SlotPool(LIMIT)), BatchSlot(SlotPool(LIMIT))  # two processes' pools
    await first.take()
    waiting = asyncio.create_task(second.take())
    await asyncio.sleep(1.5)
    assert not waiting.done() and await _active_slots() == 1
    first.release()
    await asyncio.wait_for(waiting, timeout=20)  # after KEEP_S, the first pool gives it back
    assert second.lease is not None and await _active_slots() == 1
    second.release()
    await second.pool.close()
    assert await _active_slots() == 0


async def test_a_refused_batch_gets_a_slot_its_own_process_gives_back_at_once(tag_limit, monkeypatch):
    await tag_limit(1)
    monkeypatch.setattr(batch_slot, "MAX_RETRY_AFTER_S", 30.0)
    pool = SlotPool(LIMIT)
    first, second = BatchSlot(pool), BatchSlot(pool)
    await first.take()
    waiting = asyncio.create_task(second.take())
    await asyncio.sleep(0.5)
    first.release()
    await asyncio.wait_for(waiting, timeout=2)  # not after the server's Retry-After
    assert pool.calls["handed_on"] == 1 and await _active_slots() == 1
    second.release()
    await pool.close()


async def test_a_stopped_run_stops_waiting_without_a_slot(tag_limit):
    await tag_limit(1)
    holder = BatchSlot(SlotPool(LIMIT))
    await holder.take()
    stopped = False
    waiter = BatchSlot(SlotPool(LIMIT), stopped=lambda: stopped)
    waiting = asyncio.create_task(waiter.take())
    await asyncio.sleep(0.5)
    stopped = True
    await asyncio.wait_for(waiting, timeout=15)
    assert waiter.lease is None
    waiter.release()
    holder.release()
    await holder.pool.close()
    assert await _active_slots() == 0


async def test_a_batch_that_ends_while_waiting_leaves_no_slot_behind(tag_limit):
    await tag_limit(1)
    holder, waiter = BatchSlot(SlotPool(LIMIT)), BatchSlot(SlotPool(LIMIT))
    await holder.take()
    waiting = asyncio.create_task(waiter.take())
    await asyncio.sleep(0.5)
    waiter.release()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    holder.release()
    await holder.pool.close()
    await waiter.pool.close()
    assert await _active_slots() == 0


async def test_a_held_slot_is_renewed_until_it_goes_back(tag_limit, monkeypatch):
    await tag_limit(1)
    monkeypatch.setattr(batch_slot, "RENEW_EVERY_S", 0.2)
    renewed = []
    renew = PrefectClient.renew_concurrency_lease

    async def spy(self, lease_id, lease_duration):
        renewed.append(lease_id)
        return await renew(self, lease_id=lease_id, lease_duration=lease_duration)

    monkeypatch.setattr(PrefectClient, "renew_concurrency_lease", spy)
    pool = SlotPool(LIMIT)
    slot = BatchSlot(pool)
    await slot.take()
    lease_id = slot.lease.id
    await asyncio.sleep(1.0)
    slot.release()
    await pool.close()
    count = len(renewed)
    await asyncio.sleep(0.5)
    assert count >= 3 and set(renewed) == {lease_id}
    assert len(renewed) == count  # not after it went back


async def test_no_limit_holds_nothing_and_is_not_asked_again_at_once(tag_limit, monkeypatch):
    pool = SlotPool(LIMIT)  # the fixture has not created the limit
    slot = BatchSlot(pool)
    await slot.take()
    assert slot.lease is None
    calls = []
    monkeypatch.setattr(PrefectClient, "increment_concurrency_slots_with_lease", lambda *a, **k: calls.append(a))
    await BatchSlot(pool).take()
    assert calls == []


async def test_one_pool_per_event_loop():
    assert batch_slot.slot_pool() is batch_slot.slot_pool()
    assert batch_slot.slot_pool().limit == GEMINI_LIMIT


async def test_closing_waits_only_so_long_for_a_server_that_does_not_answer(tag_limit, monkeypatch):
    await tag_limit(1)
    monkeypatch.setattr(batch_slot, "CLOSE_WAIT_S", 0.5)
    pool = SlotPool(LIMIT)
    slot = BatchSlot(pool)
    await slot.take()
    lease_id = slot.lease.id
    slot.release()
    hung = asyncio.Event()

    async def never(self, lease_id):
        await hung.wait()

    monkeypatch.setattr(PrefectClient, "release_concurrency_slots_with_lease", never)
    started = asyncio.get_running_loop().time()
    await pool.close()
    assert asyncio.get_running_loop().time() - started < 2
    monkeypatch.undo()
    async with get_client() as client:
        await client.release_concurrency_slots_with_lease(lease_id)


async def test_an_idle_slot_waits_for_a_started_batch_and_goes_when_it_ends_without_asking(tag_limit):
    await tag_limit(5)
    pool = SlotPool(LIMIT)
    first = BatchSlot(pool)
    await first.take()
    reading = BatchSlot(pool)  # started, still reading its rows
    first.release()
    await asyncio.sleep(KEEP_S + 0.5)
    assert await _active_slots() == 1  # kept for it
    reading.release()  # every row was done: it never asked
    await asyncio.sleep(KEEP_S + 0.5)
    assert await _active_slots() == 0
    assert pool.calls == {"take": 1, "refused": 0, "release": 1, "handed_on": 0}


async def test_a_process_holds_no_more_slots_than_batches_it_runs(tag_limit):
    await tag_limit(5)
    pool = SlotPool(LIMIT)
    batches = [BatchSlot(pool) for _ in range(3)]
    await asyncio.gather(*(b.take() for b in batches))
    for b in batches:
        b.release()
    nxt = [BatchSlot(pool) for _ in range(2)]  # two more start: one idle slot goes after KEEP_S
    await asyncio.gather(*(b.take() for b in nxt))
    await asyncio.sleep(KEEP_S + 0.5)
    assert await _active_slots() == 2
    assert pool.calls["take"] == 3 and pool.calls["handed_on"] == 2
    for b in nxt:
        b.release()
    await pool.close()
    assert await _active_slots() == 0


async def test_without_the_limit_the_first_batches_ask_once_between_them_and_write_nothing(tag_limit, monkeypatch):
    """A read says there is no limit: no slot request, a write the SQLite server may refuse (503,
    asked again by Prefect's client after 2 s, then 4 s, while every batch waits)."""
    pool = SlotPool(LIMIT)  # the fixture has not created the limit
    asked = []
    read, increment = PrefectClient.read_global_concurrency_limit_by_name, PrefectClient.increment_concurrency_slots_with_lease

    async def read_spy(self, name):
        asked.append(("read", name))
        return await read(self, name)

    async def increment_spy(self, **kwargs):
        asked.append(("increment", kwargs["names"]))
        return await increment(self, **kwargs)

    monkeypatch.setattr(PrefectClient, "read_global_concurrency_limit_by_name", read_spy)
    monkeypatch.setattr(PrefectClient, "increment_concurrency_slots_with_lease", increment_spy)
    slots = [BatchSlot(pool) for _ in range(10)]
    await asyncio.gather(*(slot.take() for slot in slots))
    assert asked == [("read", LIMIT)] and all(slot.lease is None for slot in slots)
    assert pool.reads == 1 and pool.calls["take"] == 0


async def test_a_missing_limit_is_checked_again_once_between_the_batches_that_ask(tag_limit, monkeypatch):
    monkeypatch.setattr(batch_slot, "NO_LIMIT_TTL_S", 0.2)
    pool = SlotPool(LIMIT)  # the fixture has not created the limit
    await BatchSlot(pool).take()
    await asyncio.sleep(0.3)  # "no such limit" has expired: ten batches ask at once
    slots = [BatchSlot(pool) for _ in range(10)]
    await asyncio.gather(*(slot.take() for slot in slots))
    assert pool.reads == 2 and pool.calls["take"] == 0 and all(slot.lease is None for slot in slots)
    await tag_limit(5)  # created meanwhile: taken once the answer has expired
    await asyncio.sleep(0.3)
    slot = BatchSlot(pool)
    await slot.take()
    assert slot.lease is not None and pool.reads == 3 and pool.calls["take"] == 1
    slot.release()
    await pool.close()
    assert await _active_slots() == 0


async def test_a_limit_seen_once_is_asked_for_without_reading_it_first(tag_limit, monkeypatch):
    await tag_limit(5)
    pool = SlotPool(LIMIT)
    first = BatchSlot(pool)
    await first.take()
    second = BatchSlot(pool)  # the first keeps its slot: the second needs one of its own
    await second.take()
    assert first.lease is not None and second.lease is not None and await _active_slots() == 2
    assert pool.reads == 1 and pool.calls["take"] == 2
    first.release()
    second.release()
    await pool.close()
    assert await _active_slots() == 0


async def test_an_inactive_limit_holds_nothing(tag_limit):
    await tag_limit(5)
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(LIMIT)
        await client.update_global_concurrency_limit(LIMIT, GlobalConcurrencyLimitUpdate(active=False))
    pool = SlotPool(LIMIT)
    slot = BatchSlot(pool)
    await slot.take()
    assert limit.active and slot.lease is None and pool.calls["take"] == 0
