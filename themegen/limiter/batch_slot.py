"""The `gemini` tag limit (max_parallel_batches, all processes), taken by a batch itself and only
once it sends to Gemini.

Prefect 3.9 takes a tagged task run's slot before the task starts (task_engine.py,
`_aconcurrency(names=["tag:gemini"], lease_duration=60)`): through one queue per process that asks
the server for one slot at a time, then a lease-renewal thread with its own HTTP client per task
run, which renews at once. On the SQLite server a slot request that meets another write fails with
503 (SQLITE_BUSY), and the client asks again after 2**1 s ± jitter while every other batch of the
process queues behind it: a fully cached 30,000-row rerun (300 task runs, no Gemini call) took
287 s with the limit against 8 s without it (README, "Benchmarks").

So the task carries no tag; each batch takes one slot of the same limit (`tag:gemini`, which
`themegen limits apply` creates) on its first Gemini request and gives it back when it ends. A
batch that sends nothing (every row done or cached: a rerun) takes no slot and makes no call;
batches waiting for slots wait each on its own, not behind each other. The limit still caps the
batches sending to Gemini at once across every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLeaseHolder

log = logging.getLogger(__name__)

# Tag of the batch tasks' limit: `themegen limits apply` creates the tag concurrency limit "gemini",
# which Prefect keeps as the global concurrency limit "tag:gemini".
GEMINI_TAG = "gemini"
GEMINI_LIMIT = f"tag:{GEMINI_TAG}"

LEASE_S = 60.0  # a dead process's slot comes back after this (Prefect's own tag leases: 60 s)
RENEW_EVERY_S = 40.0  # a batch still running renews its lease this often
MAX_RETRY_AFTER_S = 5.0  # a refused slot is asked for again after the server's Retry-After, at most this
NO_LIMIT_TTL_S = 5.0  # "no such limit" is believed this long before the server is asked again

_no_limit_until = 0.0  # monotonic time until which the limit is known not to exist (per process)


class BatchSlotError(RuntimeError):
    """The server refused the slot for good (not "full"); the message says what to run."""


class BatchSlot:
    """One batch's slot of `GEMINI_LIMIT`. `await slot.take()` before each Gemini request: the first
    call takes the slot (waiting while the limit is full), concurrent and later ones return at once.
    `await slot.release()` when the batch ends (a no-op when nothing was taken).

    `stopped()` true ends a wait for a slot without one: the request that asked then meets the
    run's stop and is not sent.
    """

    def __init__(self, holder: ConcurrencyLeaseHolder | None = None, limit: str = GEMINI_LIMIT,
                 stopped: Callable[[], bool] = lambda: False) -> None:
        self.limit = limit
        self.holder = holder
        self.stopped = stopped
        self.lease_id: UUID | None = None
        self.waited_s = 0.0  # time spent waiting for the slot (full limit, server retries)
        self._taking: asyncio.Future[None] | None = None
        self._renewal: asyncio.Task[None] | None = None

    async def take(self) -> None:
        if self._taking is None:
            self._taking = asyncio.ensure_future(self._take())
        # shield: one cancelled request must not cancel the take the batch's other requests await.
        await asyncio.shield(self._taking)

    async def _take(self) -> None:
        global _no_limit_until
        if time.monotonic() < _no_limit_until:
            return
        started = time.monotonic()
        async with get_client() as client:
            while not self.stopped():
                try:
                    response = await client.increment_concurrency_slots_with_lease(
                        names=[self.limit], slots=1, mode="concurrency", lease_duration=LEASE_S, holder=self.holder
                    )
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 423:  # 422: a limit of 0 slots
                        raise self._error(exc) from None
                    # Full: the server says when a slot is likely free again.
                    await asyncio.sleep(min(float(exc.response.headers.get("Retry-After", 1.0)), MAX_RETRY_AFTER_S))
                    continue
                body = response.json()
                if not body["limits"]:  # no such limit (or inactive): nothing to hold, as Prefect does
                    _no_limit_until = time.monotonic() + NO_LIMIT_TTL_S
                else:
                    self.lease_id = UUID(body["lease_id"])
                    self._renewal = asyncio.create_task(self._renew(self.lease_id))
                break
        self.waited_s = time.monotonic() - started

    async def _renew(self, lease_id: UUID) -> None:
        """Keep the lease while the batch runs. A renewal that fails (server away) is tried again at
        the next turn; a lease the server no longer knows (expired) is not: the batch goes on."""
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                async with get_client() as client:
                    await client.renew_concurrency_lease(lease_id=lease_id, lease_duration=LEASE_S)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 410:
                    log.warning("the %s slot's lease %s expired while its batch ran: the limit may be "
                                "exceeded until the batch ends", self.limit, lease_id)
                    return
                log.warning("could not renew the %s slot's lease %s: %s", self.limit, lease_id, exc)
            except httpx.HTTPError as exc:
                log.warning("could not renew the %s slot's lease %s: %s", self.limit, lease_id, exc)

    async def release(self) -> None:
        if self._taking is not None and not self._taking.done():
            self._taking.cancel()  # the batch ended (or failed) while waiting for its slot
            with contextlib.suppress(BaseException):
                await self._taking
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        if self.lease_id is None:
            return
        lease_id, self.lease_id = self.lease_id, None
        # A release that fails (server unreachable) only keeps the slot until the lease expires.
        try:
            async with get_client() as client:
                await client.release_concurrency_slots_with_lease(lease_id)
        except httpx.HTTPError as exc:
            log.warning("could not give back the %s slot (lease %s; it expires within %.0f s): %s",
                        self.limit, lease_id, LEASE_S, exc)

    def _error(self, exc: httpx.HTTPStatusError) -> BatchSlotError:
        return BatchSlotError(
            f"cannot take a slot of the Prefect concurrency limit {self.limit!r} (the {GEMINI_TAG!r} tag "
            f"limit, THEMEGEN_MAX_PARALLEL_BATCHES): HTTP {exc.response.status_code} {exc.response.text[:200]}. "
            f"Run `themegen limits apply` against this Prefect server."
        )
