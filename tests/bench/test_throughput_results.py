"""bench/throughput_results.py (pure): the quota-bound ideal, the raw-client comparison, the CPU per
request of the flows and the raw client, the phases and the summary lines."""

from __future__ import annotations

import pytest

from bench.cpu import MACHINE, Sample
from bench.throughput_results import (
    FLOW, RAW, RawRun, cpu_results, ideal_seconds, main_thread_phases, phases, results, summary_line,
)
from tests.bench.test_throughput import args


def test_ideal_is_the_tighter_quota_plus_one_latency() -> None:
    assert ideal_seconds(args(), requests=2000, input_tokens=0) == 20.2  # 2000 / 6000 RPM = 20 s
    assert ideal_seconds(args(tpm=100_000), requests=2000, input_tokens=300_000) == 180.2  # TPM binds
    assert ideal_seconds(args(rpm=0), requests=2000, input_tokens=0) is None  # no quota, no ideal


def test_the_ideal_counts_the_requests_sent_not_the_rows() -> None:
    """Identical texts are paid once: 1,000 rows that needed 400 first attempts (and 10 retries)."""
    summary = {"rows_total": 1000, "input_tokens": 0, "output_tokens": 0, "wall_seconds": 5.0,
               "llm_calls": 410, "llm_retries": 10, "rows_failed": 0, "exit_code": 0}
    result = results(args(rows=1000, latency=0.0, rpm=6000), [summary], 6.0, {"http_429": 0, "requests": 410},
                     [None, None])
    assert result["ideal_seconds"] == 4.0  # 400 / 6000 RPM


def test_the_pipeline_is_compared_with_the_mean_raw_measurement_and_the_faster() -> None:
    summary = {"rows_total": 1000, "input_tokens": 0, "output_tokens": 0, "wall_seconds": 5.0,
               "llm_calls": 1000, "llm_retries": 0, "rows_failed": 0, "exit_code": 0}
    run = args(rows=1000, latency=0.0, rpm=0)
    stats = {"http_429": 0, "requests": 1000}
    result = results(run, [summary], 6.0, stats, [250.0, 150.0])
    assert (result["raw_client_calls_per_second"], result["pipeline_vs_raw"]) == (200.0, 1.0)
    assert (result["raw_client_calls_per_second_before_after"], result["pipeline_vs_raw_max"]) == ([250.0, 150.0], 0.8)
    skipped = results(run, [summary], 6.0, stats, [None, None])
    assert (skipped["raw_client_calls_per_second"], skipped["pipeline_vs_raw"], skipped["pipeline_vs_raw_max"]) == (
        None, None, None)


def test_the_summary_line_names_the_raw_client_only_when_it_was_measured() -> None:
    summary = {"rows_total": 1000, "input_tokens": 0, "output_tokens": 0, "wall_seconds": 5.0,
               "llm_calls": 1000, "llm_retries": 0, "rows_failed": 0, "exit_code": 0}
    run, stats = args(rows=1000, latency=0.0, rpm=0), {"http_429": 0, "requests": 1000}
    line = summary_line(results(run, [summary], 6.0, stats, [250.0, 150.0]), None)
    assert line.startswith("[Gemini SIMULATED]") and "raw client 200.0 calls/s (mean of [250.0, 150.0])" in line
    assert "raw client" not in summary_line(results(run, [summary], 6.0, stats, [None, None]), None)


def flow_samples() -> list[Sample]:
    """A run sampled every second: start-up (no requests), 3 s of sending, then the report."""
    def at(t, requests, flow, spanner, machine, on_cpu):
        return Sample(t, requests, {FLOW: flow, "spanner": spanner, MACHINE: machine}, {FLOW: (on_cpu, on_cpu / 10)})
    return [at(0, 0, 0.0, 0.0, 0.0, 0.0), at(1, 0, 0.9, 0.0, 1.5, 0.9), at(2, 200, 1.7, 0.1, 3.5, 1.7),
            at(3, 600, 2.5, 0.2, 5.5, 2.5), at(4, 1000, 3.3, 0.3, 7.5, 3.3), at(5, 1100, 3.6, 0.3, 8.5, 3.6),
            at(6, 1100, 4.0, 0.3, 9.5, 4.0)]


def test_cpu_per_request_of_the_flow_while_sending_against_the_raw_client():
    raws = [RawRun(500.0, {RAW: 1.5, "spanner": 0.0}, 4.0, 2000), RawRun(400.0, {RAW: 2.5, "spanner": 0.0}, 6.0, 2000)]
    cpu = cpu_results([4.2], 1100, flow_samples(), raws)
    # window: t = 2..4, 800 requests; the flow used 1.6 s of CPU (2 ms each), Spanner 0.2 s, the machine 4 s
    assert (cpu["flow_cpu_ms_per_request_sending"], cpu["raw_cpu_ms_per_call"]) == (2.0, 2.0)
    assert cpu["flow_vs_raw_cpu_per_request"] == 1.0 and cpu["raw_cpu_ms_per_call_before_after"] == [1.5, 2.5]
    assert cpu["stack_cpu_ms_per_request_sending"] == {"spanner": 0.25}
    assert (cpu["machine_cpu_ms_per_request_sending"], cpu["other_cpu_ms_per_request_sending"]) == (5.0, 2.75)
    assert cpu["flow_cpu_ms_per_request"] == pytest.approx(3.818, abs=0.001)  # whole life: 4.2 s / 1,100
    assert cpu["raw_process_cpu_ms_per_call"] == 2.5  # (2 + 3) / 2
    window = cpu["sending_window"]
    assert (window["seconds"], window["requests"], window["busy_cores"], window["flow_cores"]) == (2, 800, 2.0, 0.8)
    assert window["main_threads"][FLOW] == {"on_cpu": 0.8, "waiting_for_cpu": 0.08}


def test_cpu_without_a_window_or_a_raw_client_is_left_empty():
    cpu = cpu_results([4.2], 1100, flow_samples()[:3], [None, None])
    assert cpu["flow_cpu_ms_per_request_sending"] is None and cpu["raw_cpu_ms_per_call"] is None
    assert cpu["flow_vs_raw_cpu_per_request"] is None and cpu["sending_window"] is None


def test_phases_of_the_flow_process():
    assert phases(flow_samples(), process_wall=7.0) == {"to_first_request": 2, "sending": 3, "after_last_request": 2.0}
    assert phases(flow_samples()[:1], 7.0) is None


def test_the_main_thread_per_phase_on_a_cpu_waiting_for_one_and_asleep():
    # on_cpu grows as the flow's CPU, waiting for a CPU a tenth of that: the rest of each second asleep
    phase = main_thread_phases(flow_samples())
    assert phase["to_first_request"] == {"seconds": 2, "on_cpu": 1.7, "waiting_for_cpu": 0.17, "asleep": 0.13}
    assert phase["sending"] == {"seconds": 3, "on_cpu": 1.9, "waiting_for_cpu": 0.19, "asleep": 0.91}
    assert phase["after_last_request"] == {"seconds": 1, "on_cpu": 0.4, "waiting_for_cpu": 0.04, "asleep": 0.56}
    assert main_thread_phases(flow_samples()[:1]) is None


def test_the_summary_names_the_cpu_per_request_when_measured():
    summary = {"rows_total": 1000, "input_tokens": 0, "output_tokens": 0, "wall_seconds": 5.0,
               "llm_calls": 1000, "llm_retries": 0, "rows_failed": 0, "exit_code": 0}
    run, stats = args(rows=1000, latency=0.0, rpm=0), {"http_429": 0, "requests": 1100}
    cpu = cpu_results([4.2], 1100, flow_samples(), [RawRun(500.0, {RAW: 1.0}), None])
    result = results(run, [summary], 6.0, stats, [500.0, None], cpu)
    assert result["requests_per_second"] == 220.0 and result["requests_vs_raw"] == 0.44
    line = summary_line(result, None)
    assert "flow process 2.0 ms per request vs the raw client's 1.0 ms per call: 2.0x" in line
    assert "stack ms per request: spanner 0.25" in line and "flow main thread 0.8 on a CPU, 0.08 waiting" in line
