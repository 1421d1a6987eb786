"""Benchmark: pipeline throughput against the quota-bound ideal, and against the raw client ceiling.

Gemini is the local SIMULATOR (stack from THEMEGEN_STATE_DIR, default .themegen; started with
`themegen stack up` if it does not answer). One run:
  1. sets the simulator's knobs (latency, jitter = 10% of it unless --jitter, rpm, tpm);
  2. raw client ceiling: with the simulator at zero latency and no quota, --raw-calls calls of
     `client.aio.models.generate_content` at concurrency 128 (after 50 warm-up calls), with the
     pipeline's own model, contents and GenerateContentConfig, once before the flows and once after
     (step 4) -> raw_client_calls_per_second, the mean of the two. They bracket the flows, and on
     this shared 2-core machine the client's own CPU time per call moves by up to 30% within a
     minute (measured: 3.0 to 3.9 ms; 241 before and 365 calls/s after one run), so the mean is
     the estimate of the machine's speed during the run; `pipeline_vs_raw_max` compares with the
     faster of the two, a stricter bar biased by that noise;
  3. empties Themes, ThemeFailures and the row cache and resets the simulator's counters, so every
     row calls the LLM, then runs --processes subprocesses of `themegen run --json` (with P > 1 each
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

    python -m bench.throughput --rows 2000 --latency 0.2 --rpm 6000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # `python bench/throughput.py` as well as `python -m bench.throughput`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, clear, ensure_stack, last_json_line, run_command, sim  # noqa: E402
from local_stack.sample_data import generate_rows  # noqa: E402
# The generator builds its client and configs in themegen.llm.gemini.client (gemini.py imports them).
from themegen.llm.gemini.client import generation_config, make_client  # noqa: E402
from themegen.domain.prompt import user_content  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402

RPM_UNLIMITED = 10_000_000  # THEMEGEN_RPM for `--rpm 0`: no in-process throttle in practice
RAW_CONCURRENCY = 128
RAW_WARMUP = 50
SHARED_LIMIT_VARIABLES = ("THEMEGEN_SHARED_RATE_LIMIT", "THEMEGEN_SHARED_TOKEN_LIMIT")
NOTE = "Gemini is the local SIMULATOR (not the real model): pipeline numbers, not model latency"


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
    return parser.parse_args()


def run_knobs(args: argparse.Namespace) -> dict:
    jitter = args.jitter if args.jitter is not None else 0.1 * args.latency
    return {"latency_s": args.latency, "latency_jitter_s": jitter, "rpm": args.rpm or None, "tpm": args.tpm}


def raw_rows(count: int) -> list[tuple[str, str]]:
    """Sample-table texts (same generator as the seeded table), so request sizes match a run."""
    rows = ((row["id"], row["text"]) for row in generate_rows(count * 2))
    return [(row_id, text) for row_id, text in rows if text and text.strip()][:count]


def pipeline_request(settings: Settings, rows: list[tuple[str, str]]):
    """Contents and config exactly as the generator builds them for a request of these rows."""
    return user_content(rows), generation_config(settings, rows=len(rows))


async def _raw_calls(settings: Settings, requests: list, concurrency: int) -> float:
    """Warm up, then time len(requests) calls; returns calls per second."""
    client = make_client(settings)
    pending = iter(requests)

    async def worker() -> None:
        for contents, config in pending:  # one shared iterator: each request is sent once
            await client.aio.models.generate_content(model=settings.model, contents=contents, config=config)

    async with client.aio:  # closes its aiohttp session on this loop
        await asyncio.gather(*(client.aio.models.generate_content(model=settings.model, contents=c, config=g)
                               for c, g in requests[:RAW_WARMUP]))  # connections and lazy imports
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(requests) / (time.perf_counter() - started)


def measure_raw(settings: Settings, calls: int, rows_per_request: int, knobs: dict) -> float | None:
    """The raw client ceiling at zero latency and no quota; the run's knobs are put back after."""
    if calls <= 0:
        return None
    rows = itertools.cycle(raw_rows(2000))
    requests = [pipeline_request(settings, [next(rows) for _ in range(rows_per_request)])
                for _ in range(calls)]
    sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0, "rpm": None, "tpm": None})
    try:
        return round(asyncio.run(_raw_calls(settings, requests, RAW_CONCURRENCY)), 1)
    finally:
        sim("config", knobs)


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


def run_flows(args: argparse.Namespace, env: dict[str, str]) -> tuple[float, list[dict]]:
    """Launch every run at once; wall time until the last exits, and each run's summary."""
    with tempfile.TemporaryDirectory(prefix="themegen-bench-") as tmp:
        logs, processes = [], []
        started = time.perf_counter()
        for i, extra in enumerate(run_args(args)):
            out, err = open(f"{tmp}/{i}.out", "w+"), open(f"{tmp}/{i}.err", "w+")  # noqa: SIM115
            logs.append((out, err))
            processes.append(subprocess.Popen(run_command(extra), stdout=out, stderr=err, env=env))
        try:
            for process in processes:
                process.wait(timeout=max(0.1, started + args.timeout - time.perf_counter()))
        except BaseException:  # timeout or Ctrl-C: leave no run behind
            for process in processes:
                process.kill()
            raise
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
    return wall, summaries


def ideal_seconds(args: argparse.Namespace, requests: int, input_tokens: int) -> float | None:
    if not args.rpm:
        return None
    minutes = requests / args.rpm
    if args.tpm:
        minutes = max(minutes, input_tokens / args.tpm)
    return round(60 * minutes + args.latency, 2)


def results(args: argparse.Namespace, summaries: list[dict], process_wall: float, stats: dict,
            raws: list[float | None]) -> dict:
    measured = [r for r in raws if r]
    raw = round(sum(measured) / len(measured), 1) if measured else None
    rows = sum(s["rows_total"] for s in summaries)
    tokens_in, tokens_out = sum(s["input_tokens"] for s in summaries), sum(s["output_tokens"] for s in summaries)
    wall = max(s["wall_seconds"] for s in summaries)
    ideal = ideal_seconds(args, sum(s["llm_calls"] - s["llm_retries"] for s in summaries), tokens_in)
    rows_per_second = rows / wall if wall else None
    return {
        "rows": rows, "wall_seconds": round(wall, 2), "ideal_seconds": ideal,
        "ratio": round(wall / ideal, 3) if ideal else None,
        "http_429": stats["http_429"],
        "retries": sum(s["llm_retries"] for s in summaries),
        "llm_calls": stats["requests"],
        "rows_per_second": round(rows_per_second, 1) if rows_per_second else None,
        "raw_client_calls_per_second": raw,
        "raw_client_calls_per_second_before_after": raws,
        "pipeline_vs_raw": round(rows_per_second / raw, 3) if raw and rows_per_second else None,
        "pipeline_vs_raw_max": round(rows_per_second / max(measured), 3) if raw and rows_per_second else None,
        "rows_per_request": args.rows_per_request, "processes": args.processes, "latency": args.latency,
        "rpm": args.rpm or None, "tpm": args.tpm, "input_tokens": tokens_in, "output_tokens": tokens_out,
        "tokens_per_row": round((tokens_in + tokens_out) / rows, 1) if rows else None,
        "subprocess_wall_seconds": round(process_wall, 2),
        "run_wall_seconds": [s["wall_seconds"] for s in summaries],  # per process: their skew
        "ratio_subprocess": round(process_wall / ideal, 3) if ideal else None,
        "rows_failed": sum(s["rows_failed"] for s in summaries),
        "failed_runs": sum(s["exit_code"] != 0 for s in summaries),
        "simulated": True, "note": NOTE,
    }


def summary_line(result: dict, limits: str | None) -> str:
    ideal = f"ideal {result['ideal_seconds']} s, ratio {result['ratio']} (subprocess {result['ratio_subprocess']})" \
        if result["ideal_seconds"] else "no quota: no ideal"
    shared = f", shared limits by `{limits}`" if limits else ""
    raw = (f"raw client {result['raw_client_calls_per_second']} calls/s (mean of "
           f"{result['raw_client_calls_per_second_before_after']}), " if result["raw_client_calls_per_second"] else "")
    return (f"[Gemini SIMULATED] {result['rows']:,} rows, {result['processes']} process(es){shared}: flows "
            f"{result['wall_seconds']} s (subprocesses {result['subprocess_wall_seconds']} s), {ideal}; "
            f"{result['rows_per_second']} rows/s, {raw}"
            f"{result['llm_calls']:,} calls, {result['http_429']} HTTP 429, {result['rows_failed']} rows failed")


def main() -> None:
    args = parse_args()
    ensure_stack()
    settings = Settings()
    knobs = run_knobs(args)
    try:
        sim("config", knobs)
        raw_before = measure_raw(settings, args.raw_calls, args.rows_per_request, knobs)
        env = flow_env(args)
        limits = apply_shared_limits(env) if args.processes > 1 else None
        clear(settings)  # also resets the simulator's counters and quota windows
        busy = simulator_busy()
        process_wall, summaries = run_flows(args, env)
        stats = sim("stats")
        raw_after = measure_raw(settings, args.raw_calls, args.rows_per_request, knobs)
        result = results(args, summaries, process_wall, stats, [raw_before, raw_after])
    finally:
        sim("config", SIM_DEFAULTS)  # other engineers' runs expect the stack's defaults
    if limits:
        result["shared_limits"] = limits
    if busy:
        result["warning"] = busy
    print(summary_line(result, limits))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
