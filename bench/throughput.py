"""Benchmark: pipeline throughput against the quota-bound ideal, and against the raw client ceiling.

Gemini is the local SIMULATOR (stack from THEMEGEN_STATE_DIR, default .themegen; started with
`themegen stack up` if it does not answer). One run:
  1. sets the simulator's knobs (latency, jitter = 10% of it unless --jitter, rpm, tpm);
  2. raw client ceiling: with the simulator at zero latency and no quota, --raw-calls calls of
     `client.aio.models.generate_content` at concurrency 128 (after 50 warm-up calls), with the
     pipeline's own model, contents and GenerateContentConfig, in a process of its own
     (bench/raw_client.py), once before the flows and once after (step 4) ->
     raw_client_calls_per_second, the mean of the two. They bracket the flows, and on
     this shared 2-core machine the client's own CPU time per call moves by up to 30% within a
     minute (measured: 3.0 to 3.9 ms; 241 before and 365 calls/s after one run), so the mean is
     the estimate of the machine's speed during the run; `pipeline_vs_raw_max` compares with the
     faster of the two, a stricter bar biased by that noise;
  3. empties Themes, ThemeFailures and the row cache and resets the simulator's counters, so every
     row calls the LLM, then runs --processes subprocesses of `themegen run --json --in-process` (the
     flow in that process, not on the stack's worker: its CPU is what is measured; with P > 1 each
     takes shard i of P under Prefect limits shared by all: `themegen limits apply`, then emptied);
  4. measures the raw client again, then prints a one-line summary, then one JSON object on the
     last line.

Times. `subprocess_wall_seconds` runs from launching the subprocesses until the last one exits:
it includes interpreter start, imports and Prefect's engine start and shutdown (4-9 s measured on
2 cores). `wall_seconds` is the flows' own wall time (`wall_seconds` of each run's summary), the
max over processes; that is what `ratio` = wall_seconds / ideal_seconds uses. The processes are
launched together, so with P > 1 it is close to the span from the first flow start to the last
flow end, understating it by the start skew (`run_wall_seconds` lists each run's); the subprocess
wall bounds that span from above, and `ratio_subprocess` uses it.

ideal_seconds = max(requests / rpm, input_tokens / tpm) minutes + one latency, with requests = the
first attempts the runs sent (llm_calls - llm_retries: the sample repeats sentences, and identical
texts are paid once, so fewer than rows / rows_per_request) and input_tokens from the runs' summaries.
`--rpm 0` means no quota (simulator rpm null, THEMEGEN_RPM 10,000,000): ideal and ratio are null.
Gemini (and the simulator) count quotas over a sliding 60-s window, so a run whose total fits in
one minute's quota can beat the ideal (ratio < 1) if the pipeline bursts: use minutes of rows.
pipeline_vs_raw = rows_per_second / raw_client_calls_per_second; it means something only in a
zero-latency, no-quota run. The raw client is `make_client(settings)` as a user would build it,
with google-genai's own aiohttp session (the pipeline's shared_client tunes its session).
Other THEMEGEN_* variables in the environment reach the runs unchanged (e.g. THEMEGEN_MAX_IN_FLIGHT).

CPU (bench/cpu.py: the kernel's counts, not our own counters). `flow_cpu_ms_per_request_sending`
is the flow process's user + system CPU (/proc/<pid>/stat, sampled every SAMPLE_S together with
the simulator's request counter) per request the simulator counted, over the steady part of the
sending (start-up, imports, snapshot and the report are outside it); `raw_cpu_ms_per_call` is the
raw client process's, read the same way right before and after its timed calls (the mean of the
two measurements); `flow_vs_raw_cpu_per_request` divides the two: the pipeline's own cost per
request, whatever the emulators cost. `stack_cpu_ms_per_request_sending` gives the local stack's
parts over the same window (gemini = the simulator, spanner, bigquery, prefect = the Prefect
server), `other_cpu_ms_per_request_sending` the rest of the machine (the bench, the kernel, other
people's work on it), `sending_window.busy_cores` how many of the cores were busy and
`sending_window.main_threads` (and `raw_main_threads`) the share of the time each process's main
thread spent on a CPU and runnable but waiting for one (/proc/<pid>/schedstat): the rest it slept,
waiting for answers, locks or the GIL. The raw client's session trusts the environment (aiohttp
reads proxy variables and ~/.netrc per request, google-genai's default), which the pipeline's
shared_client avoids: its CPU per call includes that. `flow_cpu_seconds`
is the flow processes' whole life (wait4's rusage), `flow_cpu_ms_per_request` that over every request.
`flow_steps_seconds` splits each flow run's wall time into its steps as the Prefect server recorded
its task runs (bench/steps.py: check_config, create_batches = the BigQuery snapshot, generate = the
batches, upsert, report, other), and `pipeline_vs_raw_generating` compares the generate step's
rows per second with the raw client (the emulator's snapshot queries left out).
`--profile DIR` attaches py-spy to each flow process at its first request and to the raw client
for its timed calls, writes DIR/flow-<i>.txt and DIR/raw-<before|after>.txt (collapsed stacks) and
prints where their CPU went (bench/profile_breakdown.py); py-spy takes CPU of its own, so measure
with and without it in separate invocations. `--flow-gc SPEC` runs the flows under other garbage
collector settings (bench/flow_gc.py) to measure one without editing the flow. `--samples FILE`
keeps the samples (JSON lines) for a timeline.

    python -m bench.throughput --rows 2000 --latency 0.2 --rpm 6000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # `python bench/throughput.py` as well as `python -m bench.throughput`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, STATE_DIR, clear, ensure_stack, last_json_line, run_command, sim  # noqa: E402
from bench.cpu import (  # noqa: E402
    Sample, Sampler, main_threads, per_request, snapshot, stack_pids, wait_cpu,
)
from bench.flow_gc import parse_spec  # noqa: E402
from bench.raw_client import END, START  # noqa: E402
from bench.throughput_results import (  # noqa: E402
    FLOW, RAW, RawRun, cpu_results, main_thread_phases, phases, results, step_results, summary_line, write_samples,
)
from themegen.config.settings import Settings  # noqa: E402

RPM_UNLIMITED = 10_000_000  # THEMEGEN_RPM for `--rpm 0`: no in-process throttle in practice
SHARED_LIMIT_VARIABLES = ("THEMEGEN_SHARED_RATE_LIMIT", "THEMEGEN_SHARED_TOKEN_LIMIT")
ROOT = Path(__file__).resolve().parent.parent
SAMPLE_S = 1.0  # CPU and request-counter sampling of the flows (each read of the counter costs the simulator ~15 ms)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows in total (default: every row)")
    parser.add_argument("--latency", type=float, required=True, help="simulated mean latency, seconds")
    parser.add_argument("--jitter", type=float, default=None, help="± jitter, seconds (default 10%% of latency)")
    parser.add_argument("--rpm", type=int, required=True, help="requests per minute quota; 0 = no quota")
    parser.add_argument("--tpm", type=int, default=None, help="input tokens per minute quota (default none)")
    parser.add_argument("--rows-per-request", type=int, default=1, help="rows per Gemini request (k)")
    parser.add_argument("--processes", type=int, default=1, help="flow runs in parallel, one shard each")
    parser.add_argument("--raw-calls", type=int, default=3000, help="raw client calls (0 = skip)")
    parser.add_argument("--timeout", type=float, default=3600, help="kill the runs after this many seconds")
    parser.add_argument("--sample-interval", type=float, default=SAMPLE_S,
                        help="seconds between CPU samples of the flows (default %(default)s)")
    parser.add_argument("--samples", type=Path, default=None, metavar="FILE",
                        help="write the flows' CPU samples there (JSON lines: seconds, requests, CPU seconds)")
    parser.add_argument("--flow-gc", default=None, metavar="SPEC",
                        help="run the flows under other GC settings (bench/flow_gc.py), e.g. 10000,10,10+freeze")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="attach py-spy to the flows and the raw client; collapsed stacks and a breakdown in DIR")
    return parser.parse_args()


def run_knobs(args: argparse.Namespace) -> dict:
    jitter = args.jitter if args.jitter is not None else 0.1 * args.latency
    return {"latency_s": args.latency, "latency_jitter_s": jitter, "rpm": args.rpm or None, "tpm": args.tpm}


def simulator_requests() -> int:
    return sim("stats")["requests"]


def stack_roots() -> dict[str, list[int]]:
    """The stack's parts to sample next to the measured process (gemini, spanner, bigquery, prefect)."""
    return {name: [pid] for name, pid in stack_pids(STATE_DIR).items()}


def py_spy(pid: int, out: Path) -> subprocess.Popen | None:
    """py-spy recording `pid` (collapsed stacks, full file names) until it exits or gets SIGINT."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("WARNING: --profile needs py-spy (pip install py-spy)", file=sys.stderr, flush=True)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--full-filenames",
                             "--nonblocking", "--rate", "100", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(spies: list[subprocess.Popen | None]) -> None:
    for spy in spies:
        if spy is not None:
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            spy.wait(timeout=60)


def measure_raw(settings: Settings, calls: int, rows_per_request: int, knobs: dict,
                profile: Path | None = None) -> RawRun | None:
    """The raw client ceiling at zero latency and no quota; the run's knobs are put back after."""
    if calls <= 0:
        return None
    sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0, "rpm": None, "tpm": None})
    try:
        return _run_raw(calls, rows_per_request, profile)
    finally:
        sim("config", knobs)


def _run_raw(calls: int, rows_per_request: int, profile: Path | None) -> RawRun:
    command = [sys.executable, "-m", "bench.raw_client", "--calls", str(calls),
               "--rows-per-request", str(rows_per_request)]
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        roots = {RAW: [process.pid]} | stack_roots()
        marks: dict[str, Sample] = {}
        spy, lines = None, []
        try:
            for line in process.stdout:
                line = line.strip()
                if line in (START, END):
                    marks[line] = snapshot(simulator_requests, roots)
                    if line == START and profile is not None:
                        spy = py_spy(process.pid, profile)
                    if line == END:
                        stop_py_spy([spy])
                else:
                    lines.append(line)
            cpu = wait_cpu(process, time.monotonic() + 600)
        except BaseException:
            process.kill()
            raise
        if process.returncode != 0 or not lines:
            err.seek(0)
            raise RuntimeError(f"the raw client failed (exit {process.returncode}):\n{err.read()[-3000:]}")
    result = json.loads(lines[-1])
    timed = (marks[START], marks[END]) if START in marks and END in marks else None
    return RawRun(calls_per_second=result["calls_per_second"], window=per_request(*timed) if timed else {},
                  process_cpu_seconds=round(cpu, 3), calls=result["calls"] + result["warmup_calls"],
                  main_threads=main_threads(*timed) if timed else {})


def simulator_busy(seconds: float = 1.0) -> str | None:
    """The simulator's counters are global: another client calling it (someone's run on the same
    stack) would be counted as ours, and our quota knobs would throttle it. Say so, loudly."""
    before = sim("stats")["requests"]
    time.sleep(seconds)
    if sim("stats")["requests"] == before:
        return None
    warning = "another client was calling the simulator when the run started: counts and times are not clean"
    print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    return warning


def flow_env(args: argparse.Namespace) -> dict[str, str]:
    env = {**os.environ, "THEMEGEN_RPM": str(args.rpm or RPM_UNLIMITED),
           "THEMEGEN_ROWS_PER_REQUEST": str(args.rows_per_request)}
    if args.tpm:
        env["THEMEGEN_TPM"] = str(args.tpm)
    # One process: its own throttle is the quota; the shared limits only matter across processes.
    for name in SHARED_LIMIT_VARIABLES:
        env.pop(name, None)
    if args.processes > 1:
        env["THEMEGEN_SHARED_RATE_LIMIT"] = "gemini-rpm"
        if args.tpm:
            env["THEMEGEN_SHARED_TOKEN_LIMIT"] = "gemini-tpm"
    return env


def apply_shared_limits(env: dict[str, str]) -> str:
    """Size the shared Prefect limits to this run's quota; `limits apply` is new, `setup` the fallback."""
    command = [sys.executable, "-m", "themegen.cli.app", "limits", "apply"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        asyncio.run(_empty_limits([env[name] for name in SHARED_LIMIT_VARIABLES if name in env]))
        return "limits apply"
    if "No such command" not in done.stderr:
        raise RuntimeError(f"`themegen limits apply` failed:\n{done.stdout}{done.stderr}")
    subprocess.run([sys.executable, "-m", "themegen.cli.app", "setup"], env=env, capture_output=True, check=True)
    return "setup (fallback: `themegen limits apply` is not available; no shared TPM limit)"


async def _empty_limits(names: list[str]) -> None:
    """Start from empty limits, as from a reset simulator. Slots an earlier run took but did not use
    stay active and decay at the limit's NEW rate: after a `--rpm 0` run (chunks of 41,666 slots) a
    3000-RPM limit stayed full for ~14 minutes and the next runs sent nothing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    async with get_client() as client:
        for name in names:
            await client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))


def shard_args(rows: int | None, processes: int) -> list[list[str]]:
    """`run` options per process. rows_limit applies within a shard (flows/generate_themes.py), so
    N rows in total = N // P per shard, the remainder one each to the first shards. A shard holding
    fewer rows than its share (hash shards are not exactly equal) gives fewer in total: the JSON's
    `rows` is what actually ran. Omit --rows for the whole table."""
    if processes == 1:
        return [["--rows", str(rows)] if rows else []]
    per_shard = [None] * processes if rows is None else [rows // processes + (i < rows % processes)
                                                         for i in range(processes)]
    return [["--shard", str(i), "--shard-count", str(processes)] + (["--rows", str(n)] if n else [])
            for i, n in enumerate(per_shard)]


def run_args(args: argparse.Namespace) -> list[list[str]]:
    return [extra + ["--rows-per-request", str(args.rows_per_request)]
            for extra in shard_args(args.rows, args.processes)]


def flow_command(extra: list[str], gc_spec: str | None = None) -> list[str]:
    """`themegen run --json ...`, through bench/flow_gc.py when a GC setting is to be measured."""
    command = run_command(extra, in_process=True)  # the CPU measured is the flow's own process's
    if gc_spec:
        parse_spec(gc_spec)  # a typo fails here, not in every flow process
        command[1:3] = ["-m", "bench.flow_gc", gc_spec]
    return command


@dataclass
class FlowRuns:
    """The flow processes as the bench saw them: wall time, summaries and CPU (bench/cpu.py)."""

    wall: float
    summaries: list[dict]
    cpu_seconds: list[float]  # per process, its whole life (wait4)
    samples: list[Sample]  # FLOW (every flow process together) and the stack's parts, every SAMPLE_S


def run_flows(args: argparse.Namespace, env: dict[str, str]) -> FlowRuns:
    """Launch every run at once; wall time until the last exits, each run's summary and CPU."""
    with tempfile.TemporaryDirectory(prefix="themegen-bench-") as tmp:
        logs, processes = [], []
        started = time.perf_counter()
        for i, extra in enumerate(run_args(args)):
            out, err = open(f"{tmp}/{i}.out", "w+"), open(f"{tmp}/{i}.err", "w+")  # noqa: SIM115
            logs.append((out, err))
            processes.append(subprocess.Popen(flow_command(extra, args.flow_gc), stdout=out, stderr=err, env=env))
        spies: list[subprocess.Popen | None] = []

        def attach() -> None:  # at the first request: the profile is the sending, not the imports
            spies.extend(py_spy(p.pid, args.profile / f"flow-{i}.txt") for i, p in enumerate(processes))

        sampler = Sampler(simulator_requests, {FLOW: [p.pid for p in processes]} | stack_roots(), args.sample_interval,
                          on_first_request=attach if args.profile else None).start()
        cpu = []
        try:
            deadline = time.monotonic() + args.timeout
            cpu = [wait_cpu(process, deadline) for process in processes]
        except BaseException:  # timeout or Ctrl-C: leave no run behind
            for process in processes:
                process.kill()
            raise
        finally:
            samples = sampler.stop()
            stop_py_spy(spies)
        wall = time.perf_counter() - started
        summaries = []
        for (out, err), process in zip(logs, processes, strict=True):
            out.seek(0), err.seek(0)
            text = out.read()
            try:
                summaries.append(last_json_line(text) | {"exit_code": process.returncode})
            except (ValueError, IndexError):
                raise RuntimeError(f"a run printed no summary (exit {process.returncode}):\n"
                                   f"{text[-2000:]}{err.read()[-3000:]}") from None
            out.close(), err.close()
    return FlowRuns(wall, summaries, cpu, samples)


def main() -> None:
    args = parse_args()
    ensure_stack()
    settings = Settings()
    knobs = run_knobs(args)
    profile = (lambda name: args.profile / f"raw-{name}.txt") if args.profile else (lambda name: None)
    try:
        sim("config", knobs)
        raw_before = measure_raw(settings, args.raw_calls, args.rows_per_request, knobs, profile("before"))
        env = flow_env(args)
        limits = apply_shared_limits(env) if args.processes > 1 else None
        clear(settings)  # also resets the simulator's counters and quota windows
        busy = simulator_busy()
        flows = run_flows(args, env)
        stats = sim("stats")
        raw_after = measure_raw(settings, args.raw_calls, args.rows_per_request, knobs, profile("after"))
        raws = [raw_before, raw_after]
        cpu = cpu_results(flows.cpu_seconds, stats["requests"], flows.samples, raws)
        cpu["flow_phases_seconds"] = phases(flows.samples, flows.wall)
        cpu["flow_main_thread_phases"] = main_thread_phases(flows.samples)
        if args.samples:
            write_samples(args.samples, flows.samples)
        result = results(args, flows.summaries, flows.wall, stats, [r.calls_per_second if r else None for r in raws],
                         cpu)
        result |= step_results(flows.summaries, result)
    finally:
        sim("config", SIM_DEFAULTS)  # other engineers' runs expect the stack's defaults
    if args.flow_gc:
        result["flow_gc"] = args.flow_gc
    if limits:
        result["shared_limits"] = limits
    if busy:
        result["warning"] = busy
    if args.profile:
        from bench.profile_breakdown import breakdown_files

        result["profile"] = breakdown_files(args.profile, result.get("flow_cpu_ms_per_request_sending"),
                                            result.get("raw_cpu_ms_per_call"))
    print(summary_line(result, limits))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
