"""Benchmark: two versions of the flow (code trees and/or GC settings) in ONE invocation, interleaved.

The machine is shared and its speed moves by tens of percent within minutes, so two invocations of
bench.throughput do not compare; this runs both versions in turns (A B B A, --rounds times) at zero
latency and no quota unless --latency and --rpm say otherwise, between two raw-client measurements, exactly as bench.throughput runs one
(same flows, same CPU counts: bench/cpu.py; --latency and --rpm for a quota-bound run, whose
`ratio` = wall / ideal each run reports as bench.throughput does), and reports B against A:
  - rows_per_second_b_vs_a: the mean of B's rows/s over the mean of A's (and generating_...: over
    the generate step alone, bench/steps.py);
  - cpu_per_request_b_vs_a: the same for the flow process's CPU ms per request while sending;
  - asleep_seconds_b_minus_a: the flow's main thread's time asleep (neither on a CPU nor waiting
    for one: waits on the emulators, the Prefect server, backoffs), which the machine's load
    moves far less than wall times;
and per version its pipeline_vs_raw and flow_vs_raw_cpu_per_request against the same raw client.

A version is a code tree (a git worktree of another commit: the flows run with it first on
PYTHONPATH), a GC spec (bench/flow_gc.py) and environment variables of its flows, e.g.

    git worktree add --detach /tmp/base main
    python -m bench.ab --rows 10000 --a-code /tmp/base            # main against this tree
    python -m bench.ab --rows 10000 --b-gc 10000,10,10+freeze     # this tree, default GC against tuned
    python -m bench.ab --rows 10000 --b-env THEMEGEN_BATCH_SIZE=500
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, STATE_DIR, clear, ensure_stack, sim  # noqa: E402
from bench.steps import flow_steps  # noqa: E402
from bench.throughput import RPM_UNLIMITED, measure_raw, run_flows  # noqa: E402
from bench.throughput_results import cpu_results, main_thread_phases, phases, results  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1, help="A B B A this many times")
    parser.add_argument("--raw-calls", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.0, help="simulated latency, s (jitter 10%%)")
    parser.add_argument("--rpm", type=int, default=0, help="quota; 0 = none (then ratio is null)")
    parser.add_argument("--a-code", type=Path, default=HERE, help="code tree of version A (default: this one)")
    parser.add_argument("--b-code", type=Path, default=HERE, help="code tree of version B (default: this one)")
    parser.add_argument("--a-gc", default=None, help="GC spec of version A (bench/flow_gc.py)")
    parser.add_argument("--b-gc", default=None, help="GC spec of version B")
    parser.add_argument("--a-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable of version A's flows (repeatable), e.g. THEMEGEN_BATCH_SIZE=500")
    parser.add_argument("--b-env", action="append", default=[], metavar="NAME=VALUE", help="the same for B")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    if (args.a_code.resolve(), args.a_gc, sorted(args.a_env)) == (args.b_code.resolve(), args.b_gc, sorted(args.b_env)):
        parser.error("A and B are the same version")
    return args


def run_args(args: argparse.Namespace, gc_spec: str | None) -> argparse.Namespace:
    """What bench.throughput's run_flows and results read, for one process."""
    return argparse.Namespace(rows=args.rows, processes=1, rows_per_request=1, timeout=args.timeout,
                              flow_gc=gc_spec, profile=None, sample_interval=1.0, latency=args.latency, rpm=args.rpm,
                              tpm=None)


def version_env(code: Path, extra: list[str], rpm: int = 0) -> dict[str, str]:
    """The flows' environment: `code` first on PYTHONPATH, and PYTHONSAFEPATH, without which
    `python -m` puts the working directory (this tree) before it."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "THEMEGEN_RPM": str(rpm or RPM_UNLIMITED), "THEMEGEN_ROWS_PER_REQUEST": "1",
            "PYTHONPATH": str(code.resolve()) + (os.pathsep + path if path else ""), "PYTHONSAFEPATH": "1",
            "THEMEGEN_STATE_DIR": str(STATE_DIR.resolve()), **dict(item.split("=", 1) for item in extra)}


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _ratio(b: float | None, a: float | None) -> float | None:
    return round(b / a, 3) if a and b else None


def main() -> None:
    args = parse_args()
    ensure_stack()
    settings = Settings()
    versions = {"a": (args.a_code, args.a_gc, args.a_env), "b": (args.b_code, args.b_gc, args.b_env)}
    zero = {"latency_s": 0.0, "latency_jitter_s": 0.0, "rpm": None, "tpm": None}
    knobs = {"latency_s": args.latency, "latency_jitter_s": 0.1 * args.latency, "rpm": args.rpm or None, "tpm": None}
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    try:
        raw_before = measure_raw(settings, args.raw_calls, 1, zero)
        for name in "abba" * args.rounds:
            code, gc_spec, extra = versions[name]
            clear(settings)
            sim("config", knobs)
            flows = run_flows(run_args(args, gc_spec), version_env(code, extra, args.rpm))
            stats = sim("stats")
            cpu = cpu_results(flows.cpu_seconds, stats["requests"], flows.samples, [])
            cpu["flow_phases_seconds"] = phases(flows.samples, flows.wall)
            cpu["flow_main_thread_phases"] = main_thread_phases(flows.samples)
            run = results(run_args(args, gc_spec), flows.summaries, flows.wall, stats, [], cpu)
            run["steps"] = flow_steps(flows.summaries[0].get("flow_run_id"))
            generate = (run["steps"] or {}).get("generate")
            run["rows_per_second_generating"] = round(run["rows"] / generate, 1) if generate else None
            runs[name].append(run)
            print(f"{name}: ratio {run['ratio']}, {run['rows_per_second']} rows/s ({run['rows_per_second_generating']} generating), flow CPU {run['flow_cpu_ms_per_request_sending']} ms "
                  f"per request while sending, {run['flow_cpu_seconds']} s in all", file=sys.stderr, flush=True)
        raw_after = measure_raw(settings, args.raw_calls, 1, zero)
    finally:
        sim("config", SIM_DEFAULTS)
    raws = [r for r in (raw_before, raw_after) if r]
    raw_rate = _mean([r.calls_per_second for r in raws])
    raw_cpu = _mean([r.window.get("raw") for r in raws])
    summary: dict = {"rows": args.rows, "raw_client_calls_per_second": round(raw_rate, 1) if raw_rate else None,
                     "raw_cpu_ms_per_call": round(raw_cpu, 3) if raw_cpu else None}
    for name, (code, gc_spec, extra) in versions.items():
        rate = _mean([r["rows_per_second"] for r in runs[name]])
        cpu = _mean([r["flow_cpu_ms_per_request_sending"] for r in runs[name]])
        summary[name] = {
            "code": str(code), "gc": gc_spec, "env": extra, "rows_per_second": [r["rows_per_second"] for r in runs[name]],
            "rows_per_second_generating": [r["rows_per_second_generating"] for r in runs[name]],
            "steps": [r["steps"] for r in runs[name]],
            "flow_cpu_ms_per_request_sending": [r["flow_cpu_ms_per_request_sending"] for r in runs[name]],
            "flow_cpu_seconds": [r["flow_cpu_seconds"] for r in runs[name]],
            "flow_main_thread": [r["sending_window"]["main_threads"].get("flow") if r["sending_window"] else None
                                 for r in runs[name]],
            # seconds asleep (neither on a CPU nor waiting for one) per phase: not the machine's load
            "flow_asleep_seconds": [{phase: v["asleep"] for phase, v in (r["flow_main_thread_phases"] or {}).items()}
                                    for r in runs[name]],
            "ratio": [r["ratio"] for r in runs[name]], "ideal_seconds": [r["ideal_seconds"] for r in runs[name]],
            "wall_seconds": [r["wall_seconds"] for r in runs[name]], "http_429": [r["http_429"] for r in runs[name]],
            "pipeline_vs_raw": _ratio(rate, raw_rate), "flow_vs_raw_cpu_per_request": _ratio(cpu, raw_cpu),
            "pipeline_vs_raw_generating": _ratio(_mean([r["rows_per_second_generating"] for r in runs[name]]), raw_rate),
        }
    summary["rows_per_second_b_vs_a"] = _ratio(_mean([r["rows_per_second"] for r in runs["b"]]),
                                               _mean([r["rows_per_second"] for r in runs["a"]]))
    summary["generating_rows_per_second_b_vs_a"] = _ratio(
        _mean([r["rows_per_second_generating"] for r in runs["b"]]), _mean([r["rows_per_second_generating"] for r in runs["a"]]))
    summary["cpu_per_request_b_vs_a"] = _ratio(_mean([r["flow_cpu_ms_per_request_sending"] for r in runs["b"]]),
                                               _mean([r["flow_cpu_ms_per_request_sending"] for r in runs["a"]]))
    asleep = {name: _mean([sum(phase.values()) for phase in summary[name]["flow_asleep_seconds"]])
              for name in versions}
    summary["asleep_seconds_b_minus_a"] = round(asleep["b"] - asleep["a"], 2) if None not in asleep.values() else None
    summary["latency"], summary["rpm"] = args.latency, args.rpm or None
    summary["simulated"] = True
    if args.rpm:
        print(f"quota-bound ratio (wall / ideal): A {summary['a']['ratio']}, B {summary['b']['ratio']}", file=sys.stderr)
    print(f"[Gemini SIMULATED] B vs A: rows/s x{summary['rows_per_second_b_vs_a']} (generating "
          f"x{summary['generating_rows_per_second_b_vs_a']}), flow CPU per request "
          f"x{summary['cpu_per_request_b_vs_a']}; pipeline_vs_raw A {summary['a']['pipeline_vs_raw']}, "
          f"B {summary['b']['pipeline_vs_raw']}; flow_vs_raw_cpu_per_request A "
          f"{summary['a']['flow_vs_raw_cpu_per_request']}, B {summary['b']['flow_vs_raw_cpu_per_request']}; "
          f"flow main thread asleep B - A: {summary['asleep_seconds_b_minus_a']} s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
