"""Benchmark: a nightly rerun costs what changed (issue 21), as ratios to the first run's wall time.

For each size: re-seeds the sample table, empties the sink, the row cache and the done record, then
  1. first run                                   -> wall time and Gemini calls
  2. rerun, nothing changed                      -> target <= 5% of the first run's wall time, 0 calls
  3. rerun after 0.1% of the rows were edited and 0.1% added (each text made unique, so none is
     answered by an identical text)             -> target <= 15%, exactly those rows sent
Runs use `themegen run --in-process --json` on the stack in THEMEGEN_STATE_DIR; wall times are the
flow's own (summary.wall_seconds). The Gemini side is the local SIMULATOR at zero latency, with rows
packed --rows-per-request to a request, as the issue measured main. One JSON line per run, then a
summary line with the ratios per size.

    python -m bench.nightly --sizes 30000,300000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, STATE_DIR, clear, ensure_stack, last_json_line, run_command, sim  # noqa: E402
from bench.scale import seed_in_child  # noqa: E402
from local_stack.bigquery import bigquery_client  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402
from themegen.source.bigquery.done_record import record_table  # noqa: E402

SHARE = 1_000  # 1 row in SHARE edited, and as many added: 0.1%


def run(env: dict[str, str]) -> dict:
    done = subprocess.run(run_command([], in_process=True), capture_output=True, text=True, env=env, check=False)
    if not done.stdout.strip():
        raise RuntimeError(f"`themegen run` printed no summary (exit {done.returncode}):\n{done.stderr[-3000:]}")
    summary = last_json_line(done.stdout)
    summary["requests_seen_by_simulator"] = sim("stats")["requests"]
    return summary


def change_rows(settings: Settings) -> int:
    """Edit 0.1% of the rows and add as many (unique texts); returns the rows a run must now send."""
    client = bigquery_client(settings.gcp_project, settings.bq.api_endpoint)
    table = settings.source_table
    picked = f"MOD(ABS(FARM_FINGERPRINT(CONCAT(id, '{{}}'))), {SHARE}) = 0"
    client.query(f"INSERT INTO `{table}` (id, text, lang, created_at) "
                 f"SELECT CONCAT(id, '-new'), CONCAT(text, ' (new ', id, ')'), lang, created_at FROM `{table}` "
                 f"WHERE {picked.format('add')} AND text IS NOT NULL AND TRIM(text) != ''").result()
    client.query(f"UPDATE `{table}` SET text = CONCAT(text, ' (edited ', id, ')') "
                 f"WHERE {picked.format('edit')} AND text IS NOT NULL AND TRIM(text) != '' "
                 "AND NOT ENDS_WITH(id, '-new')").result()
    counted = client.query(f"SELECT COUNTIF(ENDS_WITH(id, '-new')) AS added, COUNTIF(text LIKE '% (edited %') AS edited "
                           f"FROM `{table}`").result()
    row = next(iter(counted))
    return row["added"] + row["edited"]


def measure(rows: int, env: dict[str, str], settings: Settings) -> dict:
    seed_in_child(rows, False, env)
    clear(settings)
    bigquery_client(settings.gcp_project, settings.bq.api_endpoint).delete_table(record_table(settings),
                                                                               not_found_ok=True)
    first = run(env)
    print(json.dumps({"rows": rows, "run": "first", **first}), flush=True)
    sim("reset", {})
    unchanged = run(env)
    print(json.dumps({"rows": rows, "run": "nothing_changed", **unchanged}), flush=True)
    changed_rows = change_rows(settings)
    sim("reset", {})
    changed = run(env)
    print(json.dumps({"rows": rows, "run": "changed", "rows_changed": changed_rows, **changed}), flush=True)
    wall = first["wall_seconds"]
    return {
        "rows": rows, "first_wall_s": wall, "first_calls": first["llm_calls"],
        "nothing_changed_wall_s": unchanged["wall_seconds"], "nothing_changed_calls": unchanged["llm_calls"],
        "nothing_changed_ratio": round(unchanged["wall_seconds"] / wall, 4),
        "changed_rows": changed_rows, "changed_rows_to_theme": changed["rows_to_theme"],
        "changed_rows_answered": changed["rows_answered"], "changed_calls": changed["llm_calls"],
        "changed_wall_s": changed["wall_seconds"], "changed_ratio": round(changed["wall_seconds"] / wall, 4),
        "exactly_the_changed_rows_sent": changed["rows_to_theme"] == changed["rows_answered"] == changed_rows,
        "simulated": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30000,300000", help="comma-separated row counts")
    parser.add_argument("--rows-per-request", type=int, default=10)
    args = parser.parse_args()
    ensure_stack()
    settings = Settings()
    sim("config", SIM_DEFAULTS | {"rpm": None})
    env = os.environ | {"THEMEGEN_STATE_DIR": str(STATE_DIR), "THEMEGEN_RPM": "10000000",
                        "THEMEGEN_ROWS_PER_REQUEST": str(args.rows_per_request)}
    results = []
    try:
        for rows in (int(size) for size in args.sizes.split(",")):
            results.append(measure(rows, env, settings))
            print(json.dumps(results[-1]), flush=True)
    finally:
        sim("config", SIM_DEFAULTS)
    print(json.dumps({"nightly": results}))


if __name__ == "__main__":
    main()
