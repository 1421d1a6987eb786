"""bench.throughput's results (pure): from the flows' summaries, the simulator's counters and the CPU
samples to the JSON object and the lines it prints. The measurement itself and what each field means:
bench/throughput.py's docstring."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import MACHINE, Sample, main_threads, per_request, sending_window
from bench.steps import flow_steps

NOTE = "Gemini is the local SIMULATOR (not the real model): pipeline numbers, not model latency"
FLOW, RAW = "flow", "raw"  # Sample.cpu keys of the measured processes


@dataclass
class RawRun:
    """One raw-client measurement: its rate, and CPU per call over its timed calls (bench/cpu.py)."""

    calls_per_second: float
    window: dict[str, float | None] = field(default_factory=dict)  # name -> CPU ms per call (RAW: the client)
    process_cpu_seconds: float | None = None  # its whole life: imports, request building, warm-up
    calls: int = 0  # timed calls + warm-up calls
    main_threads: dict[str, dict[str, float]] = field(default_factory=dict)  # over the timed calls


def phases(samples: list[Sample], process_wall: float) -> dict | None:
    """Seconds from launching the flows to the first request, of sending, and from the last request
    to their exit (pure; each to within one sampling interval, first and last seen late)."""
    if len(samples) < 2:
        return None
    launched, first_count, final = samples[0].t, samples[0].requests, samples[-1].requests
    first = next((s.t for s in samples if s.requests > first_count), None)
    last = next((s.t for s in samples if s.requests == final), None)
    if first is None or last is None:
        return None
    return {"to_first_request": round(first - launched, 1), "sending": round(last - first, 1),
            "after_last_request": round(process_wall - (last - launched), 1)}


def main_thread_phases(samples: list[Sample]) -> dict | None:
    """Seconds the (first) flow process's main thread spent on a CPU, waiting for one, and asleep
    (waiting for an answer, a lock or a timer, or with nothing to do) before the first request,
    while sending and after the last request (pure; phases as `phases` draws them, the last one
    up to the last sample that saw the process). Asleep does not grow with the machine's load as
    the other two do: it is where waits on the emulators, the Prefect server and backoffs show."""
    alive = [s for s in samples if s.sched.get(FLOW) is not None]
    if len(alive) < 2:
        return None
    first_count, final = alive[0].requests, max(s.requests for s in alive)
    first = next((s for s in alive if s.requests > first_count), None)
    last = next((s for s in alive if s.requests == final), None)
    if first is None or last is None:
        return None
    out = {}
    for name, start, end in (("to_first_request", alive[0], first), ("sending", first, last),
                             ("after_last_request", last, alive[-1])):
        (cpu0, wait0), (cpu1, wait1) = start.sched[FLOW], end.sched[FLOW]
        seconds = end.t - start.t
        out[name] = {"seconds": round(seconds, 2), "on_cpu": round(cpu1 - cpu0, 2),
                     "waiting_for_cpu": round(wait1 - wait0, 2),
                     "asleep": round(seconds - (cpu1 - cpu0) - (wait1 - wait0), 2)}
    return out


def step_results(summaries: list[dict], result: dict) -> dict:
    """Each run's steps as the Prefect server recorded them (bench/steps.py), and the rows per second
    of the generate step alone against the raw client: the BigQuery snapshot before it is the
    emulator's time, not the pipeline's."""
    steps = [flow_steps(s.get("flow_run_id")) for s in summaries]
    generate = max((s or {}).get("generate", 0) for s in steps)
    rate = result["rows"] / generate if generate else None
    raw = result.get("raw_client_calls_per_second")
    return {"flow_steps_seconds": steps if len(steps) > 1 else steps[0],
            "rows_per_second_generating": round(rate, 1) if rate else None,
            "pipeline_vs_raw_generating": round(rate / raw, 3) if rate and raw else None}


def write_samples(path: Path, samples: list[Sample]) -> None:
    """One JSON line per sample: seconds since the first, requests so far, CPU seconds so far."""
    with path.open("w") as out:
        for sample in samples:
            out.write(json.dumps({"t": round(sample.t - samples[0].t, 3), "requests": sample.requests,
                                  "cpu": sample.cpu, "sched": sample.sched}) + "\n")


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 3) if present else None


def cpu_results(flow_cpu_seconds: list[float], requests: int, samples: list[Sample],
                raws: list[RawRun | None]) -> dict:
    """The flows' and the raw client's CPU per request, and the stack's over the same window (pure)."""
    window = sending_window(samples, [FLOW])
    sending = per_request(*window) if window else {}
    parts = {name: ms for name, ms in sending.items() if name not in (FLOW, MACHINE)}
    flow_ms, machine_ms = sending.get(FLOW), sending.get(MACHINE)
    raw_ms = [r.window.get(RAW) if r else None for r in raws]
    raw_mean = _mean(raw_ms)
    other = (round(machine_ms - flow_ms - sum(v for v in parts.values() if v is not None), 3)
             if machine_ms is not None and flow_ms is not None else None)
    seconds = window[1].t - window[0].t if window else None
    return {
        "flow_cpu_seconds": round(sum(flow_cpu_seconds), 2) if flow_cpu_seconds else None,
        "flow_cpu_seconds_per_process": [round(c, 2) for c in flow_cpu_seconds],
        "flow_cpu_ms_per_request": round(1000 * sum(flow_cpu_seconds) / requests, 3) if requests and flow_cpu_seconds
        else None,
        "flow_cpu_ms_per_request_sending": flow_ms,
        "raw_cpu_ms_per_call": raw_mean,
        "raw_cpu_ms_per_call_before_after": raw_ms,
        "flow_vs_raw_cpu_per_request": round(flow_ms / raw_mean, 3) if flow_ms and raw_mean else None,
        "raw_process_cpu_ms_per_call": _mean([1000 * r.process_cpu_seconds / r.calls if r and r.calls and
                                               r.process_cpu_seconds is not None else None for r in raws]),
        "stack_cpu_ms_per_request_sending": parts,
        "raw_stack_cpu_ms_per_call": {name: _mean([r.window.get(name) if r else None for r in raws])
                                      for name in parts},
        "machine_cpu_ms_per_request_sending": machine_ms,
        "other_cpu_ms_per_request_sending": other,
        "sending_window": {
            "seconds": round(seconds, 2), "requests": window[1].requests - window[0].requests,
            "busy_cores": round((window[1].cpu[MACHINE] - window[0].cpu[MACHINE]) / seconds, 2),
            # flow: CPU seconds of the flow process (all threads) per second; its main thread below
            "flow_cores": round((window[1].cpu[FLOW] - window[0].cpu[FLOW]) / seconds, 2),
            "main_threads": main_threads(*window),
        } if window and seconds else None,
        "raw_main_threads": [r.main_threads if r else None for r in raws],
    }


def ideal_seconds(args: argparse.Namespace, requests: int, input_tokens: int) -> float | None:
    if not args.rpm:
        return None
    minutes = requests / args.rpm
    if args.tpm:
        minutes = max(minutes, input_tokens / args.tpm)
    return round(60 * minutes + args.latency, 2)


def results(args: argparse.Namespace, summaries: list[dict], process_wall: float, stats: dict,
            raws: list[float | None], cpu: dict | None = None) -> dict:
    measured = [r for r in raws if r]
    raw = round(sum(measured) / len(measured), 1) if measured else None
    rows = sum(s["rows_total"] for s in summaries)
    tokens_in, tokens_out = sum(s["input_tokens"] for s in summaries), sum(s["output_tokens"] for s in summaries)
    wall = max(s["wall_seconds"] for s in summaries)
    ideal = ideal_seconds(args, sum(s["llm_calls"] - s["llm_retries"] for s in summaries), tokens_in)
    rows_per_second = rows / wall if wall else None
    requests_per_second = stats["requests"] / wall if wall else None
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
        # requests, not rows: identical texts are paid once, so a run sends fewer requests than rows
        "requests_per_second": round(requests_per_second, 1) if requests_per_second else None,
        "requests_vs_raw": round(requests_per_second / raw, 3) if raw and requests_per_second else None,
        "rows_per_request": args.rows_per_request, "processes": args.processes, "latency": args.latency,
        "rpm": args.rpm or None, "tpm": args.tpm, "input_tokens": tokens_in, "output_tokens": tokens_out,
        "tokens_per_row": round((tokens_in + tokens_out) / rows, 1) if rows else None,
        "subprocess_wall_seconds": round(process_wall, 2),
        "run_wall_seconds": [s["wall_seconds"] for s in summaries],  # per process: their skew
        "ratio_subprocess": round(process_wall / ideal, 3) if ideal else None,
        "rows_failed": sum(s["rows_failed"] for s in summaries),
        "failed_runs": sum(s["exit_code"] != 0 for s in summaries),
        **(cpu or {}),
        "simulated": True, "note": NOTE,
    }


def summary_line(result: dict, limits: str | None) -> str:
    ideal = f"ideal {result['ideal_seconds']} s, ratio {result['ratio']} (subprocess {result['ratio_subprocess']})" \
        if result["ideal_seconds"] else "no quota: no ideal"
    shared = f", shared limits by `{limits}`" if limits else ""
    raw = (f"raw client {result['raw_client_calls_per_second']} calls/s (mean of "
           f"{result['raw_client_calls_per_second_before_after']}), " if result["raw_client_calls_per_second"] else "")
    steps = result.get("flow_steps_seconds")
    if isinstance(steps, dict):
        steps_text = ", ".join(f"{k} {v}" for k, v in steps.items() if k != "flow")
        versus = f"{result['pipeline_vs_raw_generating']}x the raw client; " if result["pipeline_vs_raw_generating"] else ""
        raw += f"generating {result['rows_per_second_generating']} rows/s ({versus}steps s: {steps_text}), "
    return (f"[Gemini SIMULATED] {result['rows']:,} rows, {result['processes']} process(es){shared}: flows "
            f"{result['wall_seconds']} s (subprocesses {result['subprocess_wall_seconds']} s), {ideal}; "
            f"{result['rows_per_second']} rows/s, {raw}"
            f"{result['llm_calls']:,} calls, {result['http_429']} HTTP 429, {result['rows_failed']} rows failed"
            f"{cpu_line(result)}")


def cpu_line(result: dict) -> str:
    """The CPU part of the summary line (empty when it was not measured)."""
    flow = result.get("flow_cpu_ms_per_request_sending")
    if flow is None:
        return ""
    raw = result.get("raw_cpu_ms_per_call")
    versus = f" vs the raw client's {raw} ms per call: {result['flow_vs_raw_cpu_per_request']}x" if raw else ""
    stack = ", ".join(f"{name} {ms}" for name, ms in result["stack_cpu_ms_per_request_sending"].items())
    window = result["sending_window"]
    main = window["main_threads"].get(FLOW, {})
    return (f"; CPU while sending: flow process {flow} ms per request{versus}; stack ms per request: {stack}; "
            f"rest of the machine {result['other_cpu_ms_per_request_sending']}; {window['busy_cores']} cores busy; "
            f"flow main thread {main.get('on_cpu')} on a CPU, {main.get('waiting_for_cpu')} waiting for one"
            f"{asleep_line(result.get('flow_main_thread_phases'))}")


def asleep_line(phases: dict | None) -> str:
    if not phases:
        return ""
    return (f", asleep {phases['to_first_request']['asleep']} s before the first request, "
            f"{phases['sending']['asleep']} s while sending, {phases['after_last_request']['asleep']} s after the last")
