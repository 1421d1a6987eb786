"""The Prefect API gone for good: a flow run's process gives up on it and ends, its rows safe.

While the Prefect API is away a run keeps working (batches write their own rows), but every call it
then makes to the API (a progress update, the report's artifacts, the run's final state) is retried
by Prefect's client for minutes, one call after another, so a run whose server never comes back
would never end. The watchdog ends it instead, from its own thread (the event loop may be the
one stuck in a retry): it asks the API's health endpoint every few seconds, with a short timeout,
and gives up once the API has not answered for `orchestrator_timeout_s` (THEMEGEN_ORCHESTRATOR_TIMEOUT_S)
and nothing has been written for as long, with no batch at work: it prints one line naming the API
and saying where the rows are, and leaves with exit code 1.

A batch is at work (`in_flight`) from its first read to its write: its answers are in the row cache
the moment they validate and in the sink once it leaves, so no batch holding unwritten answers is cut
short, and none starts once the watchdog has decided. The run's Prefect state stays Running; the
zombie-run automation marks it Crashed once the server is back (README, "Runs whose process died").
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

SETTING = "THEMEGEN_ORCHESTRATOR_TIMEOUT_S"
EXIT_CODE = 1  # the CLI's code for a run that did not finish
PROBE_EVERY_S = 5.0  # at most; a shorter timeout probes more often
FLUSH_WAIT_S = 2.0  # a pipe nobody reads must not keep the process from ending


@dataclass
class Flight:
    """One batch at work; `unwritten` is set when some of its answered rows did not reach the sink."""

    unwritten: bool = False


@dataclass(frozen=True)
class _Run:
    """A flow run being watched, until its final state is recorded or its event loop is closed."""

    flow_run: Any  # prefect's FlowRun: the engine sets `.state` once the API has taken it
    loop: asyncio.AbstractEventLoop | None

    def live(self) -> bool:
        state = getattr(self.flow_run, "state", None)
        return not (state is not None and state.is_final()) and not (self.loop is not None and self.loop.is_closed())


def gives_up(now: float, last_answer: float, last_write: float, in_flight: int, timeout_s: float) -> bool:
    """The watchdog's rule (pure): no batch at work, and neither an answer from the API nor a write
    for `timeout_s`."""
    return in_flight == 0 and now - max(last_answer, last_write) >= timeout_s


def api_answers(url: str, timeout_s: float) -> bool:
    """True when the Prefect API's health endpoint gives any HTTP answer short of a server error (Prefect
    Cloud answers 401 without a key; a proxy in front of a dead server answers 502/503)."""
    from prefect.settings import PREFECT_API_TLS_INSECURE_SKIP_VERIFY

    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout_s,
                             verify=not PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value())
    except httpx.HTTPError:
        return False
    return response.status_code < 500


class Watchdog:
    """Watches the Prefect API for the flow runs of this process; one per process (`watchdog()`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 probe: Callable[[str, float], bool] = api_answers) -> None:
        self._clock, self._probe = clock, probe
        self._lock = threading.Lock()
        self._runs: list[_Run] = []
        self._thread: threading.Thread | None = None
        self._api_url: str | None = None
        self._timeout_s = 0.0
        self._sink = "the sink"
        self._in_flight = 0
        self._unwritten = 0  # batches some of whose answered rows did not reach the sink
        self._last_answer = self._last_write = clock()
        self._closing = False

    def watch(self, flow_run: Any, api_url: str | None, timeout_s: float, sink: str,
              loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Watch the API while `flow_run` is not final (and `loop` not closed); starts the thread."""
        if not api_url:
            return  # no API to wait for: Prefect runs an ephemeral one in this process
        with self._lock:
            if not self._runs:
                self._unwritten = 0  # a new run of this process: earlier runs' batches are not its own
            self._runs.append(_Run(flow_run, loop))
            self._api_url, self._timeout_s, self._sink = api_url, timeout_s, sink
            self._last_answer = self._last_write = self._clock()  # the API has just created the run
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="themegen-orchestrator-watchdog", daemon=True)
                self._thread.start()

    @contextmanager
    def in_flight(self) -> Iterator[Flight]:
        """Around a batch's work: the watchdog never ends the process while a batch holds answers
        that are not yet in the sink."""
        with self._lock:
            closing = self._closing
            if not closing:
                self._in_flight += 1
        if closing:
            threading.Event().wait()  # the process ends within moments: start nothing new
        flight = Flight()
        try:
            yield flight
        except BaseException:
            flight.unwritten = True  # its answers are cached; whether they were written is unknown
            raise
        finally:
            with self._lock:
                self._in_flight -= 1
                self._unwritten += flight.unwritten
                self._last_write = self._clock()

    def _watch(self) -> None:
        while True:
            with self._lock:
                self._runs = [run for run in self._runs if run.live()]
                if not self._runs:
                    self._thread = None
                    return
                url, timeout_s = self._api_url, self._timeout_s
            every = min(PROBE_EVERY_S, timeout_s / 4)
            answered = self._probe(url, every)
            with self._lock:
                now = self._clock()
                if answered:
                    self._last_answer = now
                silent_s = now - self._last_answer
                self._closing = gives_up(now, self._last_answer, self._last_write, self._in_flight, timeout_s)
                if self._closing:
                    line = self._message(url, silent_s)
            if self._closing:
                leave(line, EXIT_CODE)
            time.sleep(every)

    def _message(self, url: str, silent_s: float) -> str:
        where = (f"Every answered row is in {self._sink} and in the row cache: nothing is lost."
                 if not self._unwritten else
                 f"Every answered row is in the row cache ({self._unwritten} batch{'es' * (self._unwritten > 1)} could "
                 f"not write all of theirs to {self._sink}: the next run writes them from the cache, without calling "
                 f"Gemini).")
        return (f"themegen: the Prefect API at {url} has not answered for {silent_s:.0f} s ({SETTING}="
                f"{self._timeout_s:g}), so this run stops waiting for it. {where} Once Prefect answers, retry this "
                f"flow run or run again: rows already written cost nothing.")


def leave(line: str, code: int) -> None:
    """Print one line on stderr and end the process now (the engine's threads may be stuck in a
    retry, so no interpreter shutdown): the buffered output first, for at most FLUSH_WAIT_S."""
    def flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed stream: nothing to flush
                pass

    from themegen.cache.segments import flush_all

    # The row cache's buffered answers (a storage block writes them every few seconds) go first:
    # os._exit skips the close that would write them.
    flush_all(timeout_s=FLUSH_WAIT_S)
    flusher = threading.Thread(target=flush, daemon=True)
    flusher.start()
    flusher.join(FLUSH_WAIT_S)
    try:
        # A newline first: a live progress line may hold the terminal's cursor.
        os.write(2, f"\n{line}\n".encode())
    finally:
        os._exit(code)


_watchdog = Watchdog()


def watchdog() -> Watchdog:
    """The process's watchdog."""
    return _watchdog


def in_flight() -> Any:
    """`with in_flight() as flight:` around a batch's work (see Watchdog.in_flight)."""
    return _watchdog.in_flight()
