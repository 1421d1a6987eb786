"""Benchmark: what the `gemini` tag limit costs a run (issue 12).

Against the stack in THEMEGEN_STATE_DIR (started if it does not answer), Gemini SIMULATED at zero
latency and no quota, for each of "with the limit" (as `themegen limits apply` creates it) and
"without" (deleted), in one invocation:
  1. a fresh run of --rows rows (Spanner, row cache and simulator emptied first): rows/s;
  2. a rerun of the finished run (every row done in Spanner, no Gemini call): its flow wall time.
Prints one JSON object per case, then the last line {"with": ..., "without": ..., "rows_per_second_ratio": r}.

    python -m bench.tag_limit --rows 30000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

if not __package__:  # `python bench/tag_limit.py` as well as `python -m bench.tag_limit`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SIM_DEFAULTS, clear, ensure_stack, run_cli, sim  # noqa: E402
from themegen.limiter.batch_slot import GEMINI_TAG  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402


async def set_limit(on: bool) -> None:
    """Create the limit as `themegen limits apply` does, or delete it, on the stack's Prefect server
    (named explicitly: Prefect read its settings when it was imported, before stack.env was loaded)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.setup import apply_limits

    with temporary_settings(updates={PREFECT_API_URL: os.environ["PREFECT_API_URL"]}):
        if on:
            await apply_limits()
        else:
            async with get_client() as client:
                try:
                    await client.delete_concurrency_limit_by_tag(GEMINI_TAG)
                except Exception:  # noqa: BLE001 - already absent
                    pass
        async with get_client() as client:
            present = [limit.tag for limit in await client.read_concurrency_limits(limit=100, offset=0)]
    if (GEMINI_TAG in present) != on:
        raise RuntimeError(f"the {GEMINI_TAG!r} tag limit is {'absent' if on else 'still there'} on {os.environ['PREFECT_API_URL']}")


def measure(rows: int, on: bool) -> dict:
    asyncio.run(set_limit(on))
    clear(Settings())
    first = run_cli(["--rows", str(rows)])
    rerun = run_cli(["--rows", str(rows)])
    return {"tag_limit": on, "rows": first["rows_total"], "rows_per_second": round(first["rows_total"] / first["wall_seconds"], 1),
            "rerun_wall_seconds": rerun["wall_seconds"], "rerun_llm_calls": rerun["llm_calls"], "simulated": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    args = parser.parse_args()
    ensure_stack()
    os.environ["THEMEGEN_RPM"] = "10000000"
    sim("config", SIM_DEFAULTS | {"rpm": None})
    results = {}
    try:
        for on in (False, True):  # with the limit last: the stack ends as `themegen setup` leaves it
            results["with" if on else "without"] = measure(args.rows, on)
            print(json.dumps(results["with" if on else "without"]), flush=True)
    finally:
        sim("config", SIM_DEFAULTS)
    ratio = results["with"]["rows_per_second"] / results["without"]["rows_per_second"]
    print(json.dumps({**results, "rows_per_second_ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
