"""The `gemini` tag limit (max_parallel_batches, all processes), taken by the batches themselves and
only once they send to Gemini.

When a task run carries the tag, Prefect takes its slot before the task starts, whether or not
the task will send anything: a process asks the server for one slot at a time, and a slot request
the server refuses for a moment (the SQLite server does when the request meets another write) is
asked again only after seconds of backoff, while every other task run of the process waits behind
it. A fully cached rerun (no Gemini call at all) took many times longer with the tag than without
the limit (README Benchmarks).

So the task carries no tag, and the batches take slots of the same limit (`tag:gemini`, which
`themegen limits apply` creates) on their first Gemini request:
- a batch that sends nothing (every row done or cached: a rerun) takes no slot and makes no call;
- a process keeps the slot a finished batch gives back for its batches that have started and may
  still ask (and KEEP_S for none), so most batches make no server call (README Benchmarks), and
  renews its held leases from its event loop, not from a thread per slot;
- batches refused a slot (full) wait each on its own, and wake when their process gives one back;
- without the limit (no `themegen limits apply`: nothing to hold) a process reads that it is missing
  instead of asking for a slot, a write the SQLite server refuses with 503 while it records the
  run's task runs, and checks again after NO_LIMIT_TTL_S with one request at a time.
The limit still caps the batches sending to Gemini at once across every process: a slot is held
from a batch's first request to its end, then idle by its process while one of its batches may
still ask for it, or KEEP_S at most; a process never holds more slots than it runs batches.

What this relies on from Prefect: its client's public lease calls and what its server does with
them. `increment_concurrency_slots_with_lease` grants a slot of the global limit `tag:gemini` (the
tag limit `gemini`) under a lease, answers 423 with a Retry-After while the limit is full, and
grants no limit when none is active; `renew_concurrency_lease` keeps a lease (410 once it is gone);
`release_concurrency_slots_with_lease` gives it back; a lease neither renewed nor released (its
process died) expires on the server, which frees its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.exceptions import ObjectNotFound

log = logging.getLogger(__name__)

# Tag of the batch tasks' limit: `themegen limits apply` creates the tag concurrency limit "gemini",
# which Prefect keeps as the global concurrency limit "tag:gemini".
GEMINI_TAG = "gemini"
GEMINI_LIMIT = f"tag:{GEMINI_TAG}"

LEASE_S = 60.0  # a dead process's slots come back after this (as long as Prefect's own tag-limit leases)
RENEW_EVERY_S = 40.0  # a held lease is renewed this often
KEEP_S = 2.0  # an idle slot no started batch may ask for waits this long for one before it goes
MAX_RETRY_AFTER_S = 5.0  # a refused slot is asked for again after the server's Retry-After, at most this
NO_LIMIT_TTL_S = 5.0  # "no such limit" is believed this long before the server is asked again
CLOSE_WAIT_S = 10.0  # the end of a run waits this long at most for its slots to go back


class BatchSlotError(RuntimeError):
    """The server refused the slot for good (not "full"); the message says what to run."""


class _Lease:
    """One slot of the limit this process holds on the server, renewed until given back."""

    def __init__(self, lease_id: UUID, renew: Callable[[_Lease], object]) -> None:
        self.id = lease_id
        self.lost = False  # the server no longer knows it (expired): never handed on
        self.renewal: asyncio.Task[None] = asyncio.create_task(renew(self))  # type: ignore[arg-type]
        self.drop: asyncio.TimerHandle | None = None  # while idle: when it goes back to the server


class SlotPool:
    """The slots of `limit` one event loop holds. A batch `claim()`s when it starts, gets a slot from
    `take()` and returns it with `give_back()`. A returned slot stays with the loop while a batch
    that claimed may still ask for one (it has not taken one and not ended), otherwise KEEP_S, and
    then goes back to the server. Batches come and go every few seconds, so most batches of a run
    make no server call for their slot, and the loop holds no more slots than batches it runs (plus
    those waiting out KEEP_S). `close()` gives back every idle slot at once (the end of a run)."""

    def __init__(self, limit: str = GEMINI_LIMIT) -> None:
        self.limit = limit
        self._idle: list[_Lease] = []
        self._claims = 0  # started batches that have neither taken a slot nor ended
        self._releases: set[asyncio.Task[None]] = set()
        self._returned = asyncio.Event()  # set when a batch gives a slot back: wakes those refused
        self._no_limit_until = 0.0  # monotonic time until which the limit is known not to exist
        # Until the server has answered once, one request at a time: without the limit, the run's
        # first batches would otherwise all ask at once only to learn that there is none.
        self._answered = False
        self._answers = 0  # answers to the requests made one at a time (see take)
        # Whether the server last had the limit (a lease came back): then a take asks for a slot at
        # once; else it first reads whether there is one (see _ask), which costs no write.
        self._limit_seen = False
        self.reads = 0  # reads of the limit (not in `calls`: those count slot requests and hand-overs)
        self._first = asyncio.Lock()
        self.calls = {"take": 0, "refused": 0, "release": 0, "handed_on": 0}  # server calls and hand-overs

    def claim(self) -> None:
        self._claims += 1
        self._keep()

    def unclaim(self) -> None:
        self._claims -= 1
        self._keep()

    def _keep(self) -> None:
        """An idle slot per claim stays; the others go back to the server after KEEP_S."""
        for i, lease in enumerate(self._idle):
            if i < self._claims:
                if lease.drop is not None:
                    lease.drop.cancel()
                    lease.drop = None
            elif lease.drop is None:
                lease.drop = asyncio.get_running_loop().call_later(KEEP_S, self._drop, lease)

    async def take(self, holder: ConcurrencyLeaseHolder | None = None,
                   stopped: Callable[[], bool] = lambda: False) -> _Lease | None:
        """A slot (waiting while the limit is full), or None: no such limit, or the run stopped."""
        while True:
            if self._idle:
                lease = self._idle.pop()
                if lease.drop is not None:
                    lease.drop.cancel()
                    lease.drop = None
                if lease.lost:
                    continue
                self.calls["handed_on"] += 1
                return lease
            if time.monotonic() < self._no_limit_until or stopped():
                return None
            if self._answered and self._limit_seen:
                lease = await self._ask(holder)  # the limit is there: each batch asks for its own slot
            else:
                # The run's first answer, and every check of a limit that was not there: one request
                # at a time, and the batches that waited for it take its answer (a dozen batches
                # starting as the "no such limit" answer expired each asked, 2-4 s each on a busy
                # SQLite server).
                answers = self._answers
                async with self._first:
                    if self._answers != answers:
                        continue
                    lease = await self._ask(holder)
                    self._answered = True
                    self._answers += 1
            if lease is not False:
                return lease

    async def _ask(self, holder: ConcurrencyLeaseHolder | None) -> _Lease | None | bool:
        """One request to the server: a lease, None (no such limit), False (full; waited).

        Unless the limit was there last time, a read first says whether it exists (and is active):
        without it (no `themegen limits apply`) a slot request is a write all the same, and on the
        SQLite server a write that meets another (the run's first task runs being recorded) is
        answered 503, which Prefect's client asks again after 2 then 4 s (jittered) while every batch
        of the process waits for that first answer: measured, the run's first request went out 2.4
        and 6.3 s after the batches started, and batches started later waited 3-8 s for theirs. A
        read is not refused so."""
        async with get_client() as client:
            if not self._limit_seen:
                self.reads += 1
                try:
                    limit = await client.read_global_concurrency_limit_by_name(self.limit)
                except ObjectNotFound:
                    limit = None
                except httpx.HTTPStatusError as exc:
                    raise self._error(exc) from None
                if limit is None or not limit.active:  # nothing to hold, as Prefect does
                    self._no_limit_until = time.monotonic() + NO_LIMIT_TTL_S
                    return None
            self.calls["take"] += 1
            try:
                response = await client.increment_concurrency_slots_with_lease(
                    names=[self.limit], slots=1, mode="concurrency", lease_duration=LEASE_S, holder=holder
                )
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:  # 422: a limit of 0 slots
                    raise self._error(exc) from None
                # Full: ask again when the server says a slot is likely free, or as soon as a batch
                # of this loop gives one back.
                self._limit_seen = True
                self.calls["refused"] += 1
                retry_after = min(float(exc.response.headers.get("Retry-After", 1.0)), MAX_RETRY_AFTER_S)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._returned.wait(), retry_after)
                return False
        body = response.json()
        if not body["limits"]:  # no such limit (or inactive): nothing to hold, as Prefect does
            self._limit_seen = False
            self._no_limit_until = time.monotonic() + NO_LIMIT_TTL_S
            return None
        self._limit_seen = True
        return _Lease(UUID(body["lease_id"]), self._renew)

    def give_back(self, lease: _Lease) -> None:
        """Keep the slot for the loop's batches that may still ask (`_keep`), then give it back."""
        if lease.lost:  # nothing to give back: the server dropped it
            return
        self._idle.append(lease)
        self._keep()
        self._returned.set()
        self._returned.clear()

    def _drop(self, lease: _Lease) -> None:
        if lease in self._idle:
            self._idle.remove(lease)
            self._release(lease)
            self._keep()

    def _release(self, lease: _Lease) -> None:
        lease.renewal.cancel()
        if lease.lost:
            return
        task = asyncio.create_task(self._release_now(lease.id))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_now(self, lease_id: UUID) -> None:
        self.calls["release"] += 1
        # A release that fails (server unreachable) only keeps the slot until the lease expires.
        try:
            async with get_client() as client:
                await client.release_concurrency_slots_with_lease(lease_id)
        except httpx.HTTPError as exc:
            log.warning("could not give back the %s slot (lease %s; it expires within %.0f s): %s",
                        self.limit, lease_id, LEASE_S, exc)

    async def close(self) -> None:
        """Give back every idle slot now and wait for the releases under way, CLOSE_WAIT_S at most:
        with the server away, the client would retry for minutes, and the leases expire anyway."""
        idle, self._idle = self._idle, []
        for lease in idle:
            if lease.drop is not None:
                lease.drop.cancel()
            self._release(lease)
        if self._releases:
            _, pending = await asyncio.wait(set(self._releases), timeout=CLOSE_WAIT_S)
            for task in pending:
                task.cancel()

    async def _renew(self, lease: _Lease) -> None:
        """Keep the lease while it is held. A renewal that fails (server away) is tried again at the
        next turn; a lease the server no longer knows (expired) is not, and is not handed on."""
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                async with get_client() as client:
                    await client.renew_concurrency_lease(lease_id=lease.id, lease_duration=LEASE_S)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 410:
                    lease.lost = True
                    log.warning("the %s slot's lease %s expired while held: the limit may be exceeded "
                                "until its batch ends", self.limit, lease.id)
                    return
                log.warning("could not renew the %s slot's lease %s: %s", self.limit, lease.id, exc)
            except httpx.HTTPError as exc:
                log.warning("could not renew the %s slot's lease %s: %s", self.limit, lease.id, exc)

    def _error(self, exc: httpx.HTTPStatusError) -> BatchSlotError:
        return BatchSlotError(
            f"cannot take a slot of the Prefect concurrency limit {self.limit!r} (the {GEMINI_TAG!r} tag "
            f"limit, THEMEGEN_MAX_PARALLEL_BATCHES): HTTP {exc.response.status_code} {exc.response.text[:200]}. "
            f"Run `themegen limits apply` against this Prefect server."
        )


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SlotPool]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def slot_pool(limit: str = GEMINI_LIMIT) -> SlotPool:
    """The running event loop's pool of `limit` slots (one per loop: its batches share it)."""
    loop = asyncio.get_running_loop()
    with _lock:
        pools = _pools.setdefault(loop, {})
        if limit not in pools:
            pools[limit] = SlotPool(limit)
        return pools[limit]


class BatchSlot:
    """One batch's slot of the loop's pool, made when the batch starts (it claims a slot of the pool's
    idle ones). `await slot.take()` before each Gemini request: the first call gets the slot
    (waiting while the limit is full), concurrent and later ones return at once. `slot.release()`
    when the batch ends (it gives back its slot, or its claim).

    `stopped()` true ends a wait for a slot without one: the request that asked then meets the
    run's stop and is not sent.
    """

    def __init__(self, pool: SlotPool | None = None, holder: ConcurrencyLeaseHolder | None = None,
                 stopped: Callable[[], bool] = lambda: False) -> None:
        self.pool = pool or slot_pool()
        self.holder = holder
        self.stopped = stopped
        self.lease: _Lease | None = None
        self._taking: asyncio.Future[None] | None = None
        self._claimed = True
        self.pool.claim()

    async def take(self) -> None:
        if self._taking is None:
            self._unclaim()
            self._taking = asyncio.ensure_future(self._take())
        if not self._taking.done():
            # shield: one cancelled request must not cancel the take the batch's other requests await.
            await asyncio.shield(self._taking)
        elif self._taking.exception() is not None:
            raise self._taking.exception()

    async def _take(self) -> None:
        self.lease = await self.pool.take(self.holder, self.stopped)

    def _unclaim(self) -> None:
        if self._claimed:
            self._claimed = False
            self.pool.unclaim()

    def release(self) -> None:
        self._unclaim()
        if self._taking is not None and not self._taking.done():
            # The batch ended (or failed) while waiting for its slot. A slot granted in the very
            # request this cancels is lost to the pool and comes back when its lease expires.
            self._taking.cancel()
        if self.lease is not None:
            lease, self.lease = self.lease, None
            self.pool.give_back(lease)
