"""The SIGTERM guard, in child Python processes: a handler that waits (as Prefect's crash report
does on a dead API) no longer keeps the process alive past the grace period."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from themegen.runtime.sigterm import EXIT_CODE

CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from themegen.runtime.sigterm import guard_sigterm

    def prefects(signum, frame):  # stands for Prefect's handler and the engine's shielded crash report
        time.sleep(60)

    if sys.argv[1] == "waits":
        signal.signal(signal.SIGTERM, prefects)
    print(guard_sigterm("http://127.0.0.1:9/api", grace_s=0.5), flush=True)
    time.sleep(60)
""")


def run_child(mode: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=os.environ | env)
    child.stdout.readline()  # guarded
    started = time.monotonic()
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=20)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr), time.monotonic() - started


def test_a_handler_that_waits_is_cut_short_after_the_grace_period():
    child, elapsed = run_child("waits")
    assert child.returncode == EXIT_CODE and 0.5 <= elapsed < 10
    line = child.stderr.strip().splitlines()[-1]
    assert line.startswith("themegen: SIGTERM 0.5 s ago and the run has not ended") and "127.0.0.1:9/api" in line


def test_the_default_action_is_kept():
    child, elapsed = run_child("default")
    assert child.returncode == -signal.SIGTERM and elapsed < 10 and child.stderr == ""


def test_a_flow_run_process_of_a_worker_keeps_prefects_handler():
    script = "from themegen.runtime.sigterm import guard_sigterm; print(guard_sigterm(None))"
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
                           env=os.environ | {"PREFECT__FLOW_RUN_ID": "00000000-0000-0000-0000-000000000000"})
    assert child.stdout == "False\n", child.stderr


# Prefect's handler raises where the signal lands. On an event loop, in one of the loop's callbacks
# the loop logs and drops the exception; in a child task it ends that task only. The flow went on.
ON_A_LOOP = textwrap.dedent("""
    import asyncio, os, signal, sys
    from prefect.exceptions import TerminationSignal
    from themegen.runtime.sigterm import guard_sigterm

    def prefects(signum, frame):  # as prefect.utilities.engine.capture_sigterm's handler
        raise TerminationSignal(signum)

    async def row():
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.1)

    async def flow_body(where):
        if sys.argv[2] == "guarded":
            guard_sigterm(None)
        if where == "callback":
            asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
        elif where == "child task":
            await asyncio.gather(row(), return_exceptions=True)  # as a batch that counts a row's failure
        else:
            os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(2)
        return "completed"

    signal.signal(signal.SIGTERM, prefects)
    try:
        print(asyncio.run(flow_body(sys.argv[1])))
    except (TerminationSignal, asyncio.CancelledError) as exc:
        print("ended by", type(exc).__name__)
""")


def run_on_a_loop(where: str, guarded: bool, **env: str) -> str:
    child = subprocess.run([sys.executable, "-c", ON_A_LOOP, where, "guarded" if guarded else "bare"],
                           capture_output=True, text=True, timeout=60, env=os.environ | env)
    return child.stdout.strip()


def test_without_the_guard_a_sigterm_in_a_callback_or_a_child_task_is_lost():
    assert run_on_a_loop("callback", guarded=False) == "completed"
    assert run_on_a_loop("child task", guarded=False) == "completed"


def test_a_sigterm_anywhere_on_the_flows_loop_ends_the_flow():
    # Cancelled: Prefect's engine records a cancelled flow task Crashed, as for the TerminationSignal.
    assert run_on_a_loop("callback", guarded=True) == "ended by CancelledError"
    assert run_on_a_loop("child task", guarded=True) == "ended by CancelledError"
    # In the flow's own frames Prefect's exception reaches its engine as before.
    assert run_on_a_loop("flow task", guarded=True) == "ended by TerminationSignal"


def test_in_a_workers_flow_run_process_a_sigterm_in_a_callback_still_ends_the_flow():
    # Prefect's handler stays installed there (its cancellation handshake checks for it); the loop's
    # exception handler cancels the flow's task instead of dropping the signal.
    worker = {"PREFECT__FLOW_RUN_ID": "00000000-0000-0000-0000-000000000000"}
    assert run_on_a_loop("callback", guarded=True, **worker) == "ended by CancelledError"
    assert run_on_a_loop("flow task", guarded=True, **worker) == "ended by TerminationSignal"
