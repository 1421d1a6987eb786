"""Benchmark: the row cache's storage operations and the flow's wall time, per cache, in ONE invocation.

Gemini is the local SIMULATOR; Cloud Storage is the stack's emulator (local_stack/gcs.py: the
stack's own when it was started with a gcs_port, else one started here on a free port and stopped
at the end). For each cache of --caches, in order:
  1. empties Themes, ThemeFailures, the SQLite cache and the bucket, resets the simulator;
  2. `themegen run --json` with that cache -> wall time, LLM calls, rows answered, and the storage
     operations the emulator's own access log shows for the run (class A: uploads and lists; class
     B: reads), per 1,000 answered rows and in USD per million answered rows at list prices;
  3. `themegen run --json` again (a rerun of the finished run) -> its LLM calls and operations.
Caches: `sqlite` (the default: THEMEGEN_CACHE_PATH), `segments` (GcsBucket block, the grouped
layout, as the Cloud Run deployment runs), `objects` (the same block, one object per key).
Runs of one invocation share the machine's state of the moment, so compare them with each other
(`wall_ratio_vs_sqlite`: mean wall times); a cache may be named twice, and the later of two runs
was the slower by ~7% in both orders measured, so `--caches sqlite,segments,segments,sqlite` cancels
that drift. The ideal is bench.throughput's (requests / RPM + one latency).

    python -m bench.cache_ops --rows 30000 --latency 2 --rpm 6000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # `python bench/cache_ops.py` as well as `python -m bench.cache_ops`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, STATE_DIR, clear, ensure_stack, last_json_line, run_command, sim  # noqa: E402
from bench.throughput import run_knobs, simulator_busy  # noqa: E402
from bench.throughput_results import ideal_seconds  # noqa: E402
from local_stack import gcs  # noqa: E402
from local_stack.processes import free_port, log_path, stop_process, wait_until  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402

NOTE = "Gemini and Cloud Storage are local SIMULATORS: operations are counted at the emulator"
BLOCK = f"gcs-bucket/{gcs.CACHE_BLOCK}"
CACHES = {
    "sqlite": {"THEMEGEN_CACHE_BLOCK": ""},  # empty: not the block a stack.env may name
    "segments": {"THEMEGEN_CACHE_BLOCK": BLOCK, "THEMEGEN_CACHE_LAYOUT": "segments"},
    "objects": {"THEMEGEN_CACHE_BLOCK": BLOCK, "THEMEGEN_CACHE_LAYOUT": "objects"},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caches", default="sqlite,segments,segments,sqlite",
                        help=f"comma-separated runs, of {', '.join(CACHES)} (a name may repeat)")
    parser.add_argument("--rows", type=int, default=None, help="rows per run (default: every row)")
    parser.add_argument("--latency", type=float, required=True, help="simulated mean latency (± 10%%), seconds")
    parser.add_argument("--rpm", type=int, required=True, help="requests per minute quota")
    parser.add_argument("--timeout", type=float, default=3600, help="kill a run after this many seconds")
    # bench.throughput's knobs and ideal read these too: jitter 10% of the latency, no token quota
    return parser.parse_args(namespace=argparse.Namespace(jitter=None, tpm=None))


def ensure_gcs() -> tuple[int, bool]:
    """The emulator's port, and whether this benchmark started it (then it stops it at the end)."""
    host = os.environ.get("STORAGE_EMULATOR_HOST", "")
    if host and gcs.gcs_ready(STATE_DIR, int(host.rsplit(":", 1)[1])):
        return int(host.rsplit(":", 1)[1]), False
    port = free_port()
    pid = gcs.start_gcs(STATE_DIR, port)
    wait_until(lambda: gcs.gcs_ready(STATE_DIR, port), 30, gcs.LABEL, log_path(STATE_DIR, gcs.NAME), pid)
    os.environ["STORAGE_EMULATOR_HOST"] = gcs.gcs_env(port)["STORAGE_EMULATOR_HOST"]
    return port, True


def run(env: dict[str, str], rows: int | None, timeout: float) -> tuple[dict, dict, float]:
    """One `themegen run --json`: its summary, the emulator's operations during it, its seconds."""
    mark, started = gcs.log_offset(STATE_DIR), time.perf_counter()
    done = subprocess.run(run_command(["--rows", str(rows)] if rows else []), env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    try:
        summary = last_json_line(done.stdout)
    except (ValueError, IndexError):
        raise RuntimeError(f"the run printed no summary (exit {done.returncode}):\n{done.stderr[-3000:]}") from None
    return summary, gcs.operations(STATE_DIR, mark), seconds


def per_million(ops: dict, answered: int) -> dict:
    """Operations and their price per million answered rows, at this run's ratio."""
    if not answered:
        return {}
    scale = 1_000_000 / answered
    usd = (ops["class_a"] * gcs.CLASS_A_USD_PER_1000 + ops["class_b"] * gcs.CLASS_B_USD_PER_1000) / 1000 * scale
    return {"class_a_per_million_rows": round(ops["class_a"] * scale), "class_b_per_million_rows":
            round(ops["class_b"] * scale), "usd_per_million_rows": round(usd, 3)}


def one_cache(name: str, args: argparse.Namespace, port: int, settings: Settings) -> dict:
    env = {**os.environ, "THEMEGEN_RPM": str(args.rpm), **CACHES[name]}
    clear(settings)  # Spanner tables, the SQLite cache, the simulator's counters
    gcs.empty_bucket(port)
    busy = simulator_busy()
    first, ops, seconds = run(env, args.rows, args.timeout)
    rerun, rerun_ops, _ = run(env, args.rows, args.timeout)
    answered = first["rows_answered"]
    ideal = ideal_seconds(args, first["llm_calls"] - first["llm_retries"], first["input_tokens"])
    return {
        "cache": name, "rows": first["rows_total"], "rows_answered": answered, "llm_calls": first["llm_calls"],
        "http_429": first["http_429"], "rows_failed": first["rows_failed"],
        "wall_seconds": first["wall_seconds"], "subprocess_seconds": round(seconds, 2), "ideal_seconds": ideal,
        "ratio": round(first["wall_seconds"] / ideal, 3) if ideal else None,
        "storage_operations": ops,
        "answered_rows_per_operation": round(answered / ops["total"], 1) if ops["total"] else None,
        **per_million(ops, answered),
        "rerun_llm_calls": rerun["llm_calls"], "rerun_wall_seconds": rerun["wall_seconds"],
        "rerun_storage_operations": rerun_ops["total"],
        **({"warning": busy} if busy else {}),
    }


def main() -> None:
    args = parse_args()
    caches = [c.strip() for c in args.caches.split(",") if c.strip()]
    unknown = set(caches) - set(CACHES)
    if unknown:
        raise SystemExit(f"unknown cache(s) {sorted(unknown)}: choose from {', '.join(CACHES)}")
    ensure_stack()
    port, started = ensure_gcs()
    settings = Settings()
    gcs.prepare(STATE_DIR, port, settings.gcp_project, os.environ["PREFECT_API_URL"], reset=False)
    results = []
    try:
        sim("config", run_knobs(args))
        for name in caches:
            results.append(one_cache(name, args, port, settings))
            print(json.dumps(results[-1]), flush=True)
    finally:
        sim("config", SIM_DEFAULTS)  # other engineers' runs expect the stack's defaults
        if started:
            stop_process(STATE_DIR, gcs.NAME)
    runs: dict[str, list[float]] = {}
    for r in results:
        runs.setdefault(r["cache"], []).append(r["wall_seconds"])
    walls = {name: sum(seconds) / len(seconds) for name, seconds in runs.items()}
    summary = {"caches": results, "latency": args.latency, "rpm": args.rpm, "simulated": True, "note": NOTE,
               "wall_ratio_vs_sqlite": {name: round(wall / walls["sqlite"], 3) for name, wall in walls.items()}
               if walls.get("sqlite") else None}
    for r in results:
        print(f"[SIMULATED] {r['cache']}: {r['rows']:,} rows, {r['rows_answered']:,} answered in {r['wall_seconds']} s "
              f"(ratio {r['ratio']}); {r['storage_operations']['total']:,} storage operations "
              f"({r['answered_rows_per_operation']} answered rows each); rerun: {r['rerun_llm_calls']} calls")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
