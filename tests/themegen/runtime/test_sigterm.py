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
