"""The watchdog on the Prefect API: its rule, its probe, and a process that really ends by it (a
child Python process, since giving up ends the process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local_stack.processes import free_port
from themegen.runtime.watchdog import EXIT_CODE, Watchdog, api_answers, gives_up


@pytest.mark.parametrize(("now", "last_answer", "last_write", "in_flight", "expected"), [
    (100, 0, 0, 0, True),  # silent and idle for the whole timeout
    (100, 0, 0, 1, False),  # a batch is at work: its rows are not written yet
    (100, 50, 0, 0, False),  # the API answered within the timeout
    (100, 0, 50, 0, False),  # a write within the timeout: the run is still busy without the API
    (100, 0, 40, 0, True),
])
def test_the_rule(now, last_answer, last_write, in_flight, expected):
    assert gives_up(now, last_answer, last_write, in_flight, timeout_s=60) is expected


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize(("status", "answers"), [(200, True), (401, True), (503, False)])
def test_the_probe_counts_any_answer_short_of_a_server_error(status, answers):
    handler = type("Health", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert api_answers(f"http://127.0.0.1:{server.server_port}/api", 2) is answers
    finally:
        server.shutdown()


def test_the_probe_of_a_closed_port_is_no_answer():
    assert api_answers(f"http://127.0.0.1:{free_port()}/api", 1) is False


class _State:
    def __init__(self) -> None:
        self.final = False

    def is_final(self) -> bool:
        return self.final


class _FlowRun:
    def __init__(self) -> None:
        self.state = _State()


def test_watching_ends_with_the_run_final_state():
    dog = Watchdog(probe=lambda url, timeout: True)
    run = _FlowRun()
    dog.watch(run, "http://127.0.0.1:1/api", timeout_s=4, sink="the sink")
    assert dog._thread is not None
    run.state.final = True
    deadline = time.monotonic() + 5
    while dog._thread is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dog._thread is None


def test_without_an_api_url_nothing_is_watched():
    dog = Watchdog(probe=lambda url, timeout: False)
    dog.watch(_FlowRun(), None, timeout_s=0.1, sink="the sink")
    assert dog._thread is None


CHILD = textwrap.dedent("""
    import sys, time
    from themegen.runtime.watchdog import Watchdog

    class State:
        def is_final(self): return False

    class Run:
        state = State()

    dog = Watchdog(probe=lambda url, timeout: False)
    dog.watch(Run(), "http://127.0.0.1:9/api", timeout_s=0.4, sink="the sink (spanner, table Themes)")
    with dog.in_flight() as flight:  # a batch at work: the watchdog waits for its write
        time.sleep(1.0)
        flight.unwritten = UNWRITTEN
    print("written", flush=True)
    time.sleep(30)  # stuck, as a flow waiting on a dead API
""")


@pytest.mark.parametrize("unwritten", [False, True])
def test_a_silent_api_ends_the_process_after_the_last_write_with_one_line(unwritten):
    started = time.monotonic()
    child = subprocess.run([sys.executable, "-c", CHILD.replace("UNWRITTEN", str(unwritten))],
                           capture_output=True, text=True, timeout=20)
    elapsed = time.monotonic() - started
    assert child.returncode == EXIT_CODE, child.stderr
    assert child.stdout == "written\n"  # the batch at work was not cut short
    assert 1.4 <= elapsed < 10
    line = child.stderr.strip().splitlines()[-1]
    assert line.startswith("themegen: the Prefect API at http://127.0.0.1:9/api has not answered for ")
    assert "THEMEGEN_ORCHESTRATOR_TIMEOUT_S=0.4" in line and "retry this flow run or run again" in line
    if unwritten:
        assert "Every answered row is in the row cache (1 batch could not write" in line
    else:
        assert "Every answered row is in the sink (spanner, table Themes) and in the row cache" in line
