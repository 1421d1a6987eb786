"""bench/throughput.py's arithmetic (pure): the shard split, the quota-bound ideal, the knobs and the
raw-client comparison.
The benchmark itself needs the local stack and minutes of CPU, so it is run by hand, not here."""

from __future__ import annotations

import argparse

import pytest

from bench.throughput import RPM_UNLIMITED, flow_env, ideal_seconds, results, run_knobs, shard_args, summary_line


def args(**overrides) -> argparse.Namespace:
    values = {"rows": 2000, "latency": 0.2, "jitter": None, "rpm": 6000, "tpm": None, "rows_per_request": 1,
              "processes": 1, "raw_calls": 3000}
    return argparse.Namespace(**values | overrides)


@pytest.mark.parametrize("rows, processes", [(2000, 2), (1001, 3), (7, 4)])
def test_shards_split_the_rows_exactly(rows: int, processes: int) -> None:
    split = shard_args(rows, processes)
    assert [extra[extra.index("--shard") + 1] for extra in split] == [str(i) for i in range(processes)]
    assert sum(int(extra[extra.index("--rows") + 1]) for extra in split) == rows


def test_every_row_means_no_rows_limit() -> None:
    assert shard_args(None, 1) == [[]]
    assert all("--rows" not in extra for extra in shard_args(None, 3))


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


def test_knobs_default_jitter_and_no_quota() -> None:
    assert run_knobs(args()) == {"latency_s": 0.2, "latency_jitter_s": pytest.approx(0.02), "rpm": 6000,
                                 "tpm": None}
    assert run_knobs(args(rpm=0, jitter=0.0))["rpm"] is None


def test_shared_limits_only_across_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THEMEGEN_SHARED_RATE_LIMIT", "left-over")
    assert "THEMEGEN_SHARED_RATE_LIMIT" not in flow_env(args())
    env = flow_env(args(processes=2, rpm=0, tpm=50_000))
    assert env["THEMEGEN_SHARED_RATE_LIMIT"] == "gemini-rpm" and env["THEMEGEN_SHARED_TOKEN_LIMIT"] == "gemini-tpm"
    assert env["THEMEGEN_RPM"] == str(RPM_UNLIMITED) and env["THEMEGEN_TPM"] == "50000"


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
