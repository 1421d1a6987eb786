"""Helpers shared by the benchmarks in bench/: the local stack, the Gemini SIMULATOR's /_sim
endpoints, emptying the sink and the row cache, and running `themegen run --json`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from google.auth.credentials import AnonymousCredentials
from google.cloud import spanner

from themegen.cli.app import load_stack_env
from local_stack import gcs
from themegen.config.settings import Settings

STATE_DIR = Path(os.environ.get("THEMEGEN_STATE_DIR", ".themegen"))
# The knobs `themegen stack up` gives the simulator; benchmarks put them back when they finish.
SIM_DEFAULTS = {"latency_s": 0.0, "latency_jitter_s": 0.0, "rpm": 60_000, "tpm": None}


def sim(path: str, body: dict | None = None) -> dict:
    """GET (or POST with a body) one of the simulator's /_sim endpoints."""
    url = f"{os.environ['THEMEGEN_GEMINI_BASE_URL']}/_sim/{path}"
    response = httpx.post(url, json=body) if body is not None else httpx.get(url)
    response.raise_for_status()
    return response.json()


def stack_reachable() -> bool:
    """The simulator and the Prefect server answer (BigQuery and Spanner come up with them)."""
    try:
        sim("health")
        httpx.get(f"{os.environ['PREFECT_API_URL']}/health", timeout=5).raise_for_status()
    except (KeyError, httpx.HTTPError):
        return False
    return True


def ensure_stack() -> None:
    """Use the running stack of STATE_DIR, or start it: a benchmark must not need a manual step."""
    load_stack_env(STATE_DIR)
    if stack_reachable():
        return
    print("local stack not reachable: running `themegen stack up`", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "themegen.cli.app", "stack", "up"], check=True,
                   env={**os.environ, "THEMEGEN_STATE_DIR": str(STATE_DIR)})
    for key, value in load_stack_env(STATE_DIR).items():
        os.environ[key] = value  # a fresh stack.env wins over values loaded before it existed


def clear(settings: Settings) -> None:
    """Empty Themes, ThemeFailures and the row cache, and reset the simulator's counters, so every
    row of the next run really calls the LLM."""
    client = spanner.Client(project=settings.gcp_project, credentials=AnonymousCredentials())
    database = client.instance(settings.spanner.instance).database(settings.spanner.database)
    database.execute_partitioned_dml(f"DELETE FROM {settings.spanner.table} WHERE TRUE")
    database.execute_partitioned_dml(f"DELETE FROM {settings.spanner.failures_table} WHERE TRUE")
    shutil.rmtree(settings.cache.path, ignore_errors=True)
    if host := os.environ.get("STORAGE_EMULATOR_HOST"):  # the stack's default cache: a bucket on the emulator
        gcs.empty_bucket(int(host.rsplit(":", 1)[1]))
    sim("reset", {})


def run_command(extra: list[str], in_process: bool = False) -> list[str]:
    """`python -m themegen.cli.app run --json ...` (the last stdout line is the summary).

    in_process: the flow runs in that very process (`--in-process`) instead of on the stack's worker,
    for the benchmarks that measure or kill the process running the flow (its CPU, its memory, a
    SIGKILL): on the worker, that process only follows the run."""
    return [sys.executable, "-m", "themegen.cli.app", "run", "--json", *(["--in-process"] if in_process else []),
            *extra]


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def run_cli(extra: list[str]) -> dict:
    out = subprocess.run(run_command(extra), capture_output=True, text=True, check=False).stdout
    return last_json_line(out)
