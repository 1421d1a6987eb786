"""SIGTERM ends a flow run's process within seconds, whatever its Prefect API does.

During a flow run Prefect's SIGTERM handler raises TerminationSignal, and the engine then reports
the run Crashed, shielded from cancellation, through the API, whose client retries for minutes
when the API does not answer (and the process's exit then flushes logs and events to it as well).
The guard sits in front of that handler: it starts a deadline of `GRACE_S` and hands the signal on
unchanged, so Prefect reports the crash whenever its API answers in time; past the deadline it prints
one line and ends the process (exit code 143, as for a process ended by SIGTERM).

Answers are in the row cache the moment they validate (on a storage block, within THEMEGEN_CACHE_FLUSH_S) and a sink's write is one idempotent commit,
so a process ended in the middle of a batch loses nothing a rerun would pay for again.

Where the signal lands matters on an event loop. Prefect's handler raises in whatever frame runs: in
one of the loop's callbacks the loop logs the exception and drops it, in a child task (a batch, a
row) the exception ends that task only; either way the run went on to Completed (reproduced in
tests/themegen/runtime/test_sigterm.py). So when the signal lands on the flow run's loop outside the
flow's own task, the guard cancels that task instead, as asyncio.run does for Ctrl-C: the engine
records the run Crashed and the process ends.

Not installed when a Prefect worker or runner started this process for a flow run
(PREFECT__FLOW_RUN_ID is set): its cancellation handshake checks that Prefect's own handler is in
place, and the supervisor ends the process itself (SIGKILL after its grace period; Cloud Run
likewise). There only the loop's exception handler is changed: a TerminationSignal it would drop
cancels the flow's task, which Prefect's engine reads as the worker's cancel (its hooks run).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from themegen.runtime.watchdog import leave

GRACE_S = 20.0
EXIT_CODE = 128 + signal.SIGTERM
# The task running each flow run's body, by its event loop (runs in this process, one after another).
_flow_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
_received = threading.Event()


def received() -> bool:
    """A SIGTERM reached the guard: a flow run cancelled by it ended for that reason."""
    return _received.is_set()


def guard_sigterm(api_url: str | None, grace_s: float = GRACE_S) -> bool:
    """Put the guard in front of the current SIGTERM handler; False where it cannot or must not be
    (not the main thread, a worker's flow run process, SIGTERM ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if (flow_task := _remember_flow_task()) is not None:
        _cancel_on_a_dropped_signal(flow_task.get_loop())
    if os.environ.get("PREFECT__FLOW_RUN_ID"):
        return False
    previous = signal.getsignal(signal.SIGTERM)
    if getattr(previous, "themegen_guard", False):
        return True  # already in front (a second flow run in this process)
    if previous in (signal.SIG_IGN, None):
        return False  # ignored (or set outside Python): nothing would end the process anyway
    signal.signal(signal.SIGTERM, _guard(previous, api_url, grace_s))
    return True


def _guard(previous: Any, api_url: str | None, grace_s: float) -> Callable[[int, Any], Any]:
    deadline: list[threading.Timer] = []

    def on_sigterm(signum: int, frame: Any) -> Any:
        _received.set()
        if not deadline:
            where = f"Prefect's API at {api_url}" if api_url else "Prefect's API"
            line = (f"themegen: SIGTERM {grace_s:g} s ago and the run has not ended (its shutdown waits on {where}); "
                    "ending the process now. Every answered row is in the row cache: a rerun writes what did not "
                    "reach the sink without calling Gemini again.")
            deadline.append(threading.Timer(grace_s, leave, (line, EXIT_CODE)))
            deadline[0].daemon = True  # a process that ends sooner does not wait for it
            deadline[0].start()
        if (flow_task := _flow_task_elsewhere()) is not None:
            flow_task.get_loop().call_soon_threadsafe(flow_task.cancel, "SIGTERM")
            return None
        if callable(previous):
            return previous(signum, frame)
        # SIG_DFL: what the signal would have done without us
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return None

    on_sigterm.themegen_guard = True  # type: ignore[attr-defined]
    return on_sigterm


def running_loop() -> asyncio.AbstractEventLoop | None:
    """This thread's running event loop, or None in synchronous code."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _remember_flow_task() -> asyncio.Task | None:
    if (loop := running_loop()) is None:
        return None  # a synchronous caller: the handler's exception reaches it wherever it lands
    for done in [known for known, task in _flow_tasks.items() if task.done()]:
        del _flow_tasks[done]
    if (task := asyncio.current_task(loop)) is not None:
        _flow_tasks[loop] = task
    return task


def _cancel_on_a_dropped_signal(loop: asyncio.AbstractEventLoop) -> None:
    """Where the loop would log and drop Prefect's TerminationSignal (raised in one of its callbacks),
    cancel the flow's task instead."""
    from prefect.exceptions import TerminationSignal

    previous = loop.get_exception_handler()
    if getattr(previous, "themegen_guard", False):
        return

    def on_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        task = _flow_tasks.get(loop)
        if isinstance(context.get("exception"), TerminationSignal) and task is not None and not task.done():
            task.cancel("SIGTERM")
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    on_error.themegen_guard = True  # type: ignore[attr-defined]
    loop.set_exception_handler(on_error)


def _flow_task_elsewhere() -> asyncio.Task | None:
    """The flow run's task when the signal interrupts its loop outside that task's own frames (where
    an exception raised now would be lost); None where raising reaches the flow's engine."""
    if (loop := running_loop()) is None:
        return None
    task = _flow_tasks.get(loop)
    if task is None or task.done() or asyncio.current_task(loop) is task:
        return None
    return task
