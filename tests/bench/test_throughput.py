"""bench/throughput.py's set-up (pure): the shard split, the knobs, the flows' environment and command.
The benchmark itself needs the local stack and minutes of CPU, so it is run by hand, not here."""

from __future__ import annotations

import argparse

import pytest

from bench.throughput import RPM_UNLIMITED, flow_command, flow_env, run_knobs, shard_args


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


def test_flows_run_in_the_measured_process_and_through_the_gc_wrapper_only_when_asked():
    assert flow_command(["--rows", "5"])[1:6] == ["-m", "themegen.cli.app", "run", "--json", "--in-process"]
    command = flow_command(["--rows", "5"], "10000,10,10+freeze")
    assert command[1:7] == ["-m", "bench.flow_gc", "10000,10,10+freeze", "run", "--json", "--in-process"]
    assert command[-1] == "5"
    with pytest.raises(ValueError):
        flow_command([], "1,2,3,4")
