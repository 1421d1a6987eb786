"""Benchmark: what a first run, a rerun of a finished run, and a rerun after SIGKILL cost.

Runs against the stack in THEMEGEN_STATE_DIR (default .themegen, from `themegen stack up`):
empties the Spanner tables and the row cache, then
  1. `themegen run` on every row                  -> LLM calls and wall time of a first run
  2. `themegen run` again                         -> a rerun of a finished run
  3. empties again, starts a run, SIGKILLs it once the simulator has answered --kill-at of the rows,
     then `themegen run`                          -> calls of the rerun vs rows unfinished at the kill
Prints one JSON object per scenario and a summary JSON object on the last line.
The Gemini side is the local SIMULATOR; numbers are pipeline numbers, not model latency.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # `python bench/reruns.py` as well as `python -m bench.reruns`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STATE_DIR, clear, run_cli, sim  # noqa: E402
from themegen.cli.app import load_stack_env  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402


def killed_run(extra: list[str], rows: int, kill_at: float) -> dict:
    before = sim("stats")["ok"]
    # --in-process: the killed process is the flow's (on the worker, a SIGKILL of the command leaves the run going)
    command = [sys.executable, "-m", "themegen.cli.app", "run", "--in-process", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while sim("stats")["ok"] - before < rows * kill_at and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return {"answered_before_kill": sim("stats")["ok"] - before, "sent_before_kill": sim("stats")["requests"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="first N rows (default: all)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of rows answered before SIGKILL")
    args = parser.parse_args()
    load_stack_env(STATE_DIR)
    settings = Settings()
    extra = ["--rows", str(args.rows)] if args.rows else []
    results = {}

    clear(settings)
    results["first_run"] = run_cli(extra)
    results["rerun_finished"] = run_cli(extra)

    clear(settings)
    kill = killed_run(extra, args.rows or results["first_run"]["rows_total"], args.kill_at)
    after = run_cli(extra)
    kill["rerun_llm_calls"] = after["llm_calls"]
    kill["rerun_rows_already_done"] = after["rows_already_done"]  # written by batches before the kill
    kill["rerun_rows_from_cache"] = after["rows_from_cache"]  # answered, not yet written
    kill["rerun_wall_seconds"] = after["wall_seconds"]
    kill["rerun_rows_succeeded"] = after["rows_succeeded"]
    results["rerun_after_sigkill"] = kill
    for name, value in results.items():
        print(json.dumps({name: value}))
    print(json.dumps({
        "first_run_calls": results["first_run"]["llm_calls"],
        "first_run_wall_s": results["first_run"]["wall_seconds"],
        "rerun_finished_calls": results["rerun_finished"]["llm_calls"],
        "rerun_finished_wall_s": results["rerun_finished"]["wall_seconds"],
        "sigkill_rerun_calls": kill["rerun_llm_calls"],
        "sigkill_rerun_wall_s": kill["rerun_wall_seconds"],
        "answered_before_kill": kill["answered_before_kill"],
    }))


if __name__ == "__main__":
    main()
