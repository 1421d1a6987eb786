"""bench/cpu.py: CPU time as the kernel counts it (/proc, wait4), and the sending window it is
divided over. Pure helpers, plus one real child process."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench.cpu import (
    CLOCK_TICKS, MACHINE, ProcStat, Sample, main_threads, machine_busy_seconds, parse_schedstat, parse_stat,
    per_request, sending_window, tree_cpu, wait_cpu,
)


def test_a_stat_line_is_read_after_the_last_parenthesis_of_the_command_name():
    fields = ["S", "41", "7", "7", "0", "-1", "0", "10", "0", "0", "0", "250", "50", "30", "20", "20", "0"]
    stat = parse_stat("1234 (python (a) b) " + " ".join(fields))
    assert (stat.pid, stat.ppid) == (1234, 41)
    assert stat.cpu_seconds == pytest.approx(300 / CLOCK_TICKS)
    assert stat.reaped_children_seconds == pytest.approx(50 / CLOCK_TICKS)


def test_a_tree_counts_descendants_and_what_they_reaped_and_is_none_once_gone():
    stats = {1: ProcStat(1, 0, 1.0, 0.5), 2: ProcStat(2, 1, 2.0, 0.0), 3: ProcStat(3, 2, 4.0, 0.0),
             4: ProcStat(4, 0, 8.0, 0.0)}
    assert tree_cpu(stats, 1) == 7.5 and tree_cpu(stats, 2) == 6.0
    assert tree_cpu(stats, 9) is None


def test_machine_busy_leaves_out_idle_iowait_and_guest_time():
    line = "cpu  100 5 50 1000 20 1 2 3 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    assert machine_busy_seconds(line) == pytest.approx((100 + 5 + 50 + 1 + 2 + 3) / CLOCK_TICKS)


def test_schedstat_is_nanoseconds_on_a_cpu_and_waiting_for_one():
    assert parse_schedstat("2500000000 500000000 42\n") == (2.5, 0.5)


def sample(t: float, requests: int, flow: float | None, machine: float = 0.0, sched=None) -> Sample:
    return Sample(t, requests, {"flow": flow, "gemini": t / 10, MACHINE: machine}, sched or {})


def test_the_window_leaves_out_start_up_and_the_end():
    samples = [sample(0, 0, 1.0), sample(1, 0, 2.0), sample(2, 100, 2.5), sample(3, 400, 3.1), sample(4, 700, 3.7),
               sample(5, 750, 4.0), sample(6, 750, 4.5), sample(7, 750, None)]
    start, end = sending_window(samples, ["flow"])
    assert (start.t, end.t) == (2, 4)
    assert per_request(start, end) == {"flow": pytest.approx(2.0), "gemini": pytest.approx(0.333),
                                       MACHINE: 0.0}


def test_no_window_when_the_run_is_too_short_for_the_sampling():
    assert sending_window([sample(0, 0, 1.0), sample(1, 50, 2.0), sample(2, 100, 2.5)], ["flow"]) is None
    assert sending_window([], ["flow"]) is None


def test_main_threads_are_shares_of_the_time_between_two_samples():
    start = sample(10, 0, 1.0, sched={"flow": (5.0, 1.0), "gone": (1.0, 1.0)})
    end = sample(12, 10, 2.0, sched={"flow": (6.5, 1.3), "gone": None})
    assert main_threads(start, end) == {"flow": {"on_cpu": 0.75, "waiting_for_cpu": 0.15}}


def test_wait_cpu_reaps_the_child_and_returns_its_whole_life():
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\nraise SystemExit(3)"
    process = subprocess.Popen([sys.executable, "-c", burn])
    cpu = wait_cpu(process, time.monotonic() + 60)
    assert process.returncode == 3 and process.wait() == 3
    assert 0.3 <= cpu < 5


def test_wait_cpu_times_out():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_cpu(process, time.monotonic() + 0.2)
    finally:
        process.kill()
        process.wait()
