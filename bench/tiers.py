"""Benchmark: cost per 1,000 rows and wall time of one run on each tier (standard, flex, batch).

Against the stack in THEMEGEN_STATE_DIR (started if it does not answer): for each tier, empties the
Spanner tables and the row cache, then `themegen run --rows N --tier T --json` on the sample data.
The Gemini side is the local SIMULATOR, with the latencies below (scaled down: real flex requests
take minutes, a real batch job up to 24 h); costs are the model's list prices applied to the tokens
the simulator counted, at each tier's price. Prints one JSON object per tier, then a summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if not __package__:  # `python bench/tiers.py` as well as `python -m bench.tiers`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, clear, ensure_stack, run_cli, sim  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402

TIERS = ("standard", "flex", "batch")


def one_tier(tier: str, rows: int, settings: Settings) -> dict:
    clear(settings)
    started = time.monotonic()
    summary = run_cli(["--rows", str(rows), "--tier", tier])
    wall = time.monotonic() - started
    done = summary["rows_succeeded"] or 1
    return {
        "tier": tier,
        "rows_succeeded": summary["rows_succeeded"],
        "rows_failed": summary["rows_failed"],
        "usd_per_1000_rows": round(1000 * summary["cost_usd"] / done, 5),
        "usd_per_1000_rows_at_standard": round(1000 * summary["cost_usd_standard"] / done, 5),
        "flow_wall_seconds": summary["wall_seconds"],
        "command_wall_seconds": round(wall, 1),
        "llm_calls_online": summary["llm_calls"],
        "inference_jobs": summary.get("inference_jobs", 0),
        "batch_queued_seconds": summary.get("batch_queued_seconds", 0.0),
        "batch_processing_seconds": summary.get("batch_processing_seconds", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="first N sample rows")
    parser.add_argument("--latency", type=float, default=1.0, help="simulated standard latency, seconds")
    parser.add_argument("--flex-latency", type=float, default=10.0, help="simulated flex latency, seconds")
    parser.add_argument("--flex-shed", type=float, default=0.05, help="share of flex requests shed (429)")
    parser.add_argument("--batch-turnaround", type=float, default=60.0, help="simulated batch job turnaround, seconds")
    args = parser.parse_args()
    ensure_stack()
    knobs = {"latency_s": args.latency, "latency_jitter_s": args.latency / 2, "flex_latency_s": args.flex_latency,
             "flex_shed_rate_429": args.flex_shed, "batch_turnaround_s": args.batch_turnaround}
    settings = Settings()
    sim("config", knobs)
    try:
        results = [one_tier(tier, args.rows, settings) for tier in TIERS]
    finally:
        sim("config", SIM_DEFAULTS | {"flex_latency_s": 1.0, "flex_shed_rate_429": 0.0, "batch_turnaround_s": 2.0})
    for result in results:
        print(json.dumps(result))
    print(json.dumps({"rows": args.rows, "simulated": knobs, "gemini": "local SIMULATOR", "model": settings.model,
                      "usd_per_1000_rows": {r["tier"]: r["usd_per_1000_rows"] for r in results},
                      "flow_wall_seconds": {r["tier"]: r["flow_wall_seconds"] for r in results}}))


if __name__ == "__main__":
    main()
