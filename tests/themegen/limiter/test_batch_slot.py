"""A batch's slot of the `gemini` tag limit against the stack's Prefect server: taken once however
many requests ask, given back at the batch's end, waited for while the limit is full (across
independent holders, as processes are), never taken when nothing is sent, not waited for once the
run has stopped, renewed while a batch runs; a missing limit holds nothing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from prefect.client.orchestration import PrefectClient, get_client
from prefect.exceptions import ObjectNotFound

from themegen.limiter import batch_slot
from themegen.limiter.batch_slot import GEMINI_LIMIT, BatchSlot

LIMIT = "tag:test-batch-slot"


async def _tag_limit(limit: int) -> None:
    async with get_client() as client:
        await client.create_concurrency_limit(tag=LIMIT.removeprefix("tag:"), concurrency_limit=limit)


async def _active_slots() -> int:
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(LIMIT)).active_slots


@pytest.fixture
async def tag_limit(stack):
    batch_slot._no_limit_until = 0.0  # another test's "no such limit" must not carry over
    yield _tag_limit
    async with get_client() as client:
        with contextlib.suppress(ObjectNotFound):
            await client.delete_concurrency_limit_by_tag(LIMIT.removeprefix("tag:"))


def test_the_limit_is_prefects_name_for_the_gemini_tag_limit():
    assert GEMINI_LIMIT == "tag:gemini"


async def test_one_slot_per_batch_however_many_requests_ask_and_back_at_its_end(tag_limit):
    await tag_limit(5)
    slot = BatchSlot(limit=LIMIT)
    await asyncio.gather(*(slot.take() for _ in range(20)))
    await slot.take()
    assert slot.lease_id is not None and await _active_slots() == 1
    await slot.release()
    assert await _active_slots() == 0
    await slot.release()  # twice is harmless
    assert await _active_slots() == 0


async def test_a_batch_that_sends_nothing_takes_nothing(tag_limit, monkeypatch):
    await tag_limit(5)
    calls = []
    monkeypatch.setattr(PrefectClient, "increment_concurrency_slots_with_lease",
                        lambda *a, **k: calls.append(a))
    slot = BatchSlot(limit=LIMIT)
    await slot.release()
    assert calls == [] and await _active_slots() == 0


async def test_a_full_limit_makes_the_next_batch_wait_until_a_slot_comes_back(tag_limit):
    await tag_limit(1)
    first, second = BatchSlot(limit=LIMIT), BatchSlot(limit=LIMIT)
    await first.take()
    waiting = asyncio.create_task(second.take())
    await asyncio.sleep(1.5)
    assert not waiting.done() and await _active_slots() == 1
    await first.release()
    await asyncio.wait_for(waiting, timeout=15)
    assert second.lease_id is not None and await _active_slots() == 1
    await second.release()
    assert await _active_slots() == 0


async def test_a_stopped_run_stops_waiting_without_a_slot(tag_limit):
    await tag_limit(1)
    holder = BatchSlot(limit=LIMIT)
    await holder.take()
    stopped = False
    waiter = BatchSlot(limit=LIMIT, stopped=lambda: stopped)
    waiting = asyncio.create_task(waiter.take())
    await asyncio.sleep(0.5)
    stopped = True
    await asyncio.wait_for(waiting, timeout=15)
    assert waiter.lease_id is None
    await waiter.release()
    await holder.release()
    assert await _active_slots() == 0


async def test_a_batch_that_ends_while_waiting_leaves_no_slot_behind(tag_limit):
    await tag_limit(1)
    holder, waiter = BatchSlot(limit=LIMIT), BatchSlot(limit=LIMIT)
    await holder.take()
    waiting = asyncio.create_task(waiter.take())
    await asyncio.sleep(0.5)
    await waiter.release()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await holder.release()
    assert await _active_slots() == 0


async def test_a_long_batch_renews_its_lease(tag_limit, monkeypatch):
    await tag_limit(1)
    monkeypatch.setattr(batch_slot, "RENEW_EVERY_S", 0.2)
    renewed = []
    renew = PrefectClient.renew_concurrency_lease

    async def spy(self, lease_id, lease_duration):
        renewed.append(lease_id)
        return await renew(self, lease_id=lease_id, lease_duration=lease_duration)

    monkeypatch.setattr(PrefectClient, "renew_concurrency_lease", spy)
    slot = BatchSlot(limit=LIMIT)
    await slot.take()
    await asyncio.sleep(1.0)
    lease_id = slot.lease_id
    await slot.release()
    count = len(renewed)
    await asyncio.sleep(0.5)
    assert count >= 3 and set(renewed) == {lease_id}
    assert len(renewed) == count  # not after the release


async def test_no_limit_holds_nothing_and_is_not_asked_again_at_once(tag_limit, monkeypatch):
    slot = BatchSlot(limit=LIMIT)  # the fixture has not created it
    await slot.take()
    assert slot.lease_id is None
    calls = []
    monkeypatch.setattr(PrefectClient, "increment_concurrency_slots_with_lease",
                        lambda *a, **k: calls.append(a))
    await BatchSlot(limit=LIMIT).take()
    assert calls == []
