"""Benchmark: does a run's memory and speed stay flat as the table grows?

For each size in --sizes (against the stack in THEMEGEN_STATE_DIR, started if it does not answer):
re-seeds the BigQuery sample table with that many rows, empties Spanner and the
row cache, sets the Gemini SIMULATOR to zero latency and no quota, then runs `themegen run --json`
as a child process and records
  - peak_rss_mb: the flow process's peak resident memory (wait4's ru_maxrss of that child; the
    table is seeded from another child, see seed_in_child),
  - rows_per_second: rows / the flow's own wall_seconds,
  - report_seconds: the publish-report task run's duration, read from the Prefect API.
With --tier batch (the rows answered by batch jobs of the Gemini SIMULATOR, written to Spanner from
the jobs' output), also, counted outside the flow:
  - spanner_rows / spanner_failures: rows in Themes and ThemeFailures (SQL on the Spanner emulator),
  - jobs, largest_job_requests, largest_job_bytes, most_jobs_at_once: the simulator's counters,
  - after_last_job_seconds: from the last job's end (the simulator's clock) to the last row's
    commit timestamp in Spanner, and after_last_job_rows_per_second: the rows committed in that time
    over it (it includes the flow's poll interval: up to one poll, 2 s doubling to 60 s, and the
    output's download); first_to_last_row_*: the same from the first row committed after the last
    job's end (the write rate alone).
Prints one JSON object per size, then, as the last line, {"runs": [...]}. Compare sizes within one
invocation: the machine is shared, so absolute numbers move between runs.

    python -m bench.scale --sizes 30000,300000 --rows-per-request 10
    python -m bench.scale --tier batch --sizes 30000,1000000 --rows-per-request 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

if not __package__:  # `python bench/scale.py` as well as `python -m bench.scale`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, STATE_DIR, clear, ensure_stack, last_json_line, run_command, sim  # noqa: E402
from local_stack.bigquery import bigquery_client, seed_table  # noqa: E402
from local_stack.sample_data import generate_rows  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402


def seed(settings: Settings, rows: int, unique_texts: bool = False) -> None:
    """Replace the source table with `rows` sample rows, on the BigQuery emulator stack.env points at.
    unique_texts: every text gets its row's id appended, so no two rows share an answer (the sample
    repeats its sentences, and identical texts are paid once: 1M sample rows make ~52,000 requests)."""
    client = bigquery_client(settings.gcp_project, settings.bq.api_endpoint)
    sample = generate_rows(rows)
    if unique_texts:
        sample = ({**row, "text": row["text"] and f"{row['text']} (ref {row['id']})"} for row in sample)
    seed_table(client, settings.source_table, sample)


def seed_in_child(rows: int, unique_texts: bool, env: dict[str, str]) -> None:
    """Seed from a child process, so this one stays small. Linux carries a process's peak RSS across
    fork and exec: the flow's ru_maxrss would start at this process's size when it forked, and the
    rows generated for seeding (~440 MiB at 300,000) would pass for the flow's."""
    unique = ["--unique-texts"] if unique_texts else []
    subprocess.run([sys.executable, "-m", "bench.scale", "--seed-only", str(rows), *unique], check=True, env=env,
                   cwd=Path(__file__).resolve().parent.parent)


def run_measured(extra: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """The run's summary and its process's peak RSS in MiB (Linux reports ru_maxrss in KiB)."""
    process = subprocess.Popen(run_command(extra, in_process=True), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=env)
    stdout = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0  # reaped by wait4 above
    return last_json_line(stdout), usage.ru_maxrss / 1024


def spanner_counts(settings: Settings, since: str | None) -> dict:
    """Rows in Themes and ThemeFailures, the last row's commit time, and the rows committed after `since`
    (an RFC 3339 time), by SQL on the Spanner emulator: counted outside the flow."""
    from datetime import datetime

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import spanner

    client = spanner.Client(project=settings.gcp_project, credentials=AnonymousCredentials())
    database = client.instance(settings.spanner.instance).database(settings.spanner.database)
    table, failures = settings.spanner.table, settings.spanner.failures_table
    moment = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else datetime.fromtimestamp(0).astimezone()
    with database.snapshot() as snapshot:
        [[themed, failed, first, last, after]] = list(snapshot.execute_sql(
            f"SELECT (SELECT COUNT(*) FROM {table}), (SELECT COUNT(*) FROM {failures}), "
            f"(SELECT MIN(GeneratedAt) FROM {table} WHERE GeneratedAt > @since), (SELECT MAX(GeneratedAt) FROM {table}), "
            f"(SELECT COUNT(*) FROM {table} WHERE GeneratedAt > @since)",
            params={"since": moment}, param_types={"since": spanner.param_types.TIMESTAMP}))
    seconds = (last - moment).total_seconds() if since and last else None
    writing = (last - first).total_seconds() if first and last and last > first else None
    return {"spanner_rows": themed, "spanner_failures": failed, "rows_after_last_job": after,
            "after_last_job_seconds": seconds and round(seconds, 2),
            "after_last_job_rows_per_second": round(after / seconds, 1) if seconds else None,
            "first_to_last_row_seconds": writing and round(writing, 2),
            "first_to_last_row_rows_per_second": round(after / writing, 1) if writing else None}


def batch_counts(settings: Settings) -> dict:
    """The simulator's job counters, and Spanner's rows counted against the last job's end."""
    batch = sim("stats")["batch"]
    return {"jobs": batch["jobs_created"], "largest_job_requests": batch["largest_job_requests"],
            "largest_job_bytes": batch["largest_job_bytes"], "most_jobs_at_once": batch["most_jobs_at_once"],
            "jobs_refused": batch["refused_400"] + batch["refused_429"], "batch_requests": batch["requests"],
            **spanner_counts(settings, batch["last_job_ended_at"])}


async def report_seconds(flow_run_id: str) -> float | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        task_runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    durations = [t.total_run_time.total_seconds() for t in task_runs if t.name.startswith("publish-report")]
    return round(max(durations), 3) if durations else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30000,300000", help="comma-separated row counts")
    parser.add_argument("--rows-per-request", type=int, default=10)
    parser.add_argument("--unique-texts", action="store_true",
                        help="no two rows share a text (every row its own request); default: the sample as it is")
    parser.add_argument("--tier", choices=("standard", "batch"), default="standard",
                        help="batch: the rows go to batch jobs, their output straight to Spanner")
    parser.add_argument("--seed-only", type=int, help=argparse.SUPPRESS)  # seed_in_child's entry point
    args = parser.parse_args()
    ensure_stack()
    settings = Settings()
    if args.seed_only:
        return seed(settings, args.seed_only, args.unique_texts)
    sim("config", SIM_DEFAULTS | {"rpm": None})
    env = os.environ | {"THEMEGEN_STATE_DIR": str(STATE_DIR), "THEMEGEN_RPM": "10000000",
                        "THEMEGEN_ROWS_PER_REQUEST": str(args.rows_per_request), "THEMEGEN_TIER": args.tier}
    runs = []
    try:
        for rows in (int(size) for size in args.sizes.split(",")):
            seed_in_child(rows, args.unique_texts, env)
            clear(settings)
            summary, peak = run_measured([], env)
            run = {"rows": rows, "peak_rss_mb": round(peak, 1),
                   "rows_per_second": round(summary["rows_total"] / summary["wall_seconds"], 1),
                   "report_seconds": asyncio.run(report_seconds(summary["flow_run_id"])),
                   "wall_seconds": summary["wall_seconds"], "llm_calls": summary["llm_calls"],
                   "rows_succeeded": summary["rows_succeeded"], "requests_saved": summary.get("requests_saved", 0),
                   "unique_texts": args.unique_texts, "tier": args.tier, "simulated": True}
            if args.tier == "batch":
                run |= batch_counts(settings)
            print(json.dumps(run), flush=True)
            runs.append(run)
    finally:
        sim("config", SIM_DEFAULTS)
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
