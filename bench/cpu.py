"""CPU time of the benchmarks' processes as the kernel counts it, never our own counters.

- A child's whole life: `wait4`'s rusage of that child (user + system, its reaped children included),
  taken when the bench reaps it (`wait_cpu`).
- Over a window: utime + stime of a process tree from /proc/<pid>/stat (`tree_cpu`), read by a
  `Sampler` thread together with the Gemini SIMULATOR's request counter and the stack's parts
  (their pid files), so a run's CPU per request is told apart from the emulators' and the Prefect
  server's. The window is the run's sending (`sending_window`): the flow's interpreter start,
  imports, snapshot and report are outside it, as the raw client's start-up and warm-up are
  outside its own (bench/raw_client.py marks its timed calls).
Linux only (/proc).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MACHINE = "machine"  # Sample.cpu key: every process's busy CPU seconds (/proc/stat), whoever runs them


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    cpu_seconds: float  # utime + stime of the process (all its threads)
    reaped_children_seconds: float  # cutime + cstime: children it has waited for


def parse_stat(text: str) -> ProcStat:
    """One /proc/<pid>/stat line (pure). The command name (field 2) may hold spaces and parentheses,
    so the fields are counted from its last ')'."""
    pid = int(text.split(" ", 1)[0])
    fields = text[text.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])  # fields 14-17
    return ProcStat(pid=pid, ppid=int(fields[1]), cpu_seconds=(utime + stime) / CLOCK_TICKS,
                    reaped_children_seconds=(cutime + cstime) / CLOCK_TICKS)


def read_stats() -> dict[int, ProcStat]:
    """Every process's stat now (processes that end meanwhile are skipped)."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = parse_stat(Path(entry.path, "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
    return stats


def tree_cpu(stats: dict[int, ProcStat], root: int) -> float | None:
    """CPU seconds of `root` and its live descendants, with the children they reaped (pure);
    None once `root` is gone."""
    if root not in stats:
        return None
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    total, todo = 0.0, [root]
    while todo:
        stat = stats[todo.pop()]
        total += stat.cpu_seconds + stat.reaped_children_seconds
        todo += children.get(stat.pid, [])
    return total


def machine_busy_seconds(text: str | None = None) -> float:
    """CPU seconds every core has been busy since boot (/proc/stat's first line minus idle and iowait)."""
    line = (text if text is not None else Path("/proc/stat").read_text()).splitlines()[0]
    values = [int(v) for v in line.split()[1:]]
    guest = sum(values[8:10])  # guest time is counted in user time too
    return (sum(values) - values[3] - values[4] - guest) / CLOCK_TICKS


def parse_schedstat(text: str) -> tuple[float, float]:
    """/proc/<pid>/schedstat (pure): (seconds on a CPU, seconds runnable but waiting for one) of
    the process's main thread, which runs its event loop."""
    on_cpu, waiting = (int(v) for v in text.split()[:2])
    return on_cpu / 1e9, waiting / 1e9


def read_schedstat(pid: int) -> tuple[float, float] | None:
    try:
        return parse_schedstat(Path(f"/proc/{pid}/schedstat").read_text())
    except (OSError, ValueError):
        return None


def stack_pids(state_dir: Path) -> dict[str, int]:
    """The local stack's parts (`<state_dir>/pids/<name>.pid`: gemini, spanner, bigquery, prefect)."""
    pids = {}
    for path in sorted(Path(state_dir, "pids").glob("*.pid")):
        try:
            pids[path.stem] = int(path.read_text().strip())
        except (OSError, ValueError):
            continue
    return pids


def wait_cpu(process: subprocess.Popen, deadline: float) -> float:
    """Reap `process` (by deadline, a time.monotonic() value; TimeoutExpired after it) and return
    the CPU seconds of its whole life (wait4: user + system, its reaped children included)."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(process.args, 0)
        time.sleep(0.05)


@dataclass(frozen=True)
class Sample:
    t: float  # time.monotonic()
    requests: int  # the simulator's request counter
    cpu: dict[str, float | None]  # name -> CPU seconds so far (None: the process is gone)
    # name -> (on a CPU, waiting for a CPU) seconds so far of the main thread of its (first) process
    sched: dict[str, tuple[float, float] | None] = field(default_factory=dict)


def snapshot(requests: Callable[[], int], roots: dict[str, list[int]]) -> Sample:
    """CPU first, then the request counter, in the same order every time (pure apart from reading)."""
    stats, busy = read_stats(), machine_busy_seconds()
    cpu: dict[str, float | None] = {}
    for name, pids in roots.items():
        parts = [tree_cpu(stats, pid) for pid in pids]
        cpu[name] = None if any(p is None for p in parts) else sum(parts)
    cpu[MACHINE] = busy
    sched = {name: read_schedstat(pids[0]) for name, pids in roots.items() if pids}
    return Sample(time.monotonic(), requests(), cpu, sched)


def sending_window(samples: list[Sample], names: list[str]) -> tuple[Sample, Sample] | None:
    """The steady part of a run's sending (pure): from the first sample that saw requests sent to
    the last one before they stopped growing (so neither start-up nor the end's report is in it),
    among samples in which every process of `names` was alive. None when fewer than two samples
    fall inside (a run too short for the sampling interval)."""
    alive = [s for s in samples if all(s.cpu.get(name) is not None for name in names)]
    if not alive:
        return None
    first, final = alive[0].requests, max(s.requests for s in alive)
    inside = [s for s in alive if first < s.requests < final]
    if len(inside) < 2 or inside[-1].requests == inside[0].requests:
        return None
    return inside[0], inside[-1]


def per_request(start: Sample, end: Sample) -> dict[str, float | None]:
    """CPU milliseconds per request of every sampled name between two samples (pure)."""
    requests = end.requests - start.requests
    out: dict[str, float | None] = {}
    for name, value in end.cpu.items():
        before = start.cpu.get(name)
        out[name] = round(1000 * (value - before) / requests, 3) if None not in (value, before) and requests else None
    return out


def main_threads(start: Sample, end: Sample) -> dict[str, dict[str, float]]:
    """Per sampled process, the share of the time between two samples its main thread spent on a
    CPU and runnable but waiting for one (pure); the rest it slept: waiting for an answer, a lock
    or the GIL, or with nothing to do."""
    seconds = end.t - start.t
    out = {}
    for name, after in end.sched.items():
        before = start.sched.get(name)
        if after is None or before is None or seconds <= 0:
            continue
        out[name] = {"on_cpu": round((after[0] - before[0]) / seconds, 3),
                     "waiting_for_cpu": round((after[1] - before[1]) / seconds, 3)}
    return out


@dataclass
class Sampler:
    """A thread taking a `snapshot` every `interval` seconds until `stop()`; `on_first_request` is
    called once, from the thread, when the counter first moves (to attach a profiler then)."""

    requests: Callable[[], int]
    roots: dict[str, list[int]]
    interval: float = 1.0
    on_first_request: Callable[[], None] | None = None
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self) -> Sampler:
        self.samples.append(snapshot(self.requests, self.roots))
        self._thread.start()
        return self

    def _run(self) -> None:
        started = False
        while not self._stop.wait(self.interval):
            try:
                sample = snapshot(self.requests, self.roots)
            except Exception:  # noqa: BLE001 - a missed sample only widens the window's step
                continue
            self.samples.append(sample)
            if not started and sample.requests > self.samples[0].requests:
                started = True
                if self.on_first_request is not None:
                    self.on_first_request()

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        return self.samples
