"""The raw google-genai client's ceiling, as a process of its own (run by bench/throughput.py).

`--calls` calls of `client.aio.models.generate_content` at `--concurrency` (after RAW_WARMUP warm-up
calls), with the pipeline's own model, contents and GenerateContentConfig, against the simulator the
environment names (stack.env). The client is `make_client(settings)` as a user would build it,
with google-genai's own aiohttp session. Its own process, so that the bench can read its CPU time
from the kernel as it reads the flow's: it prints START right before the timed calls and END right
after them (the bench reads /proc/<pid>/stat on each), then one JSON line {"calls_per_second": x}.

    python -m bench.raw_client --calls 3000 --rows-per-request 1
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from local_stack.sample_data import generate_rows  # noqa: E402
from themegen.config.settings import Settings  # noqa: E402
from themegen.domain.prompt import user_content  # noqa: E402
# The generator builds its client and configs in themegen.llm.gemini.client.
from themegen.llm.gemini.client import generation_config, make_client  # noqa: E402

RAW_CONCURRENCY = 128
RAW_WARMUP = 50
START, END = "START", "END"  # marker lines around the timed calls


def raw_rows(count: int) -> list[tuple[str, str]]:
    """Sample-table texts (same generator as the seeded table), so request sizes match a run."""
    rows = ((row["id"], row["text"]) for row in generate_rows(count * 2))
    return [(row_id, text) for row_id, text in rows if text and text.strip()][:count]


def pipeline_request(settings: Settings, rows: list[tuple[str, str]]):
    """Contents and config exactly as the generator builds them for a request of these rows."""
    return user_content(rows), generation_config(settings, rows=len(rows))


def requests_for(settings: Settings, calls: int, rows_per_request: int) -> list:
    rows = itertools.cycle(raw_rows(2000))
    return [pipeline_request(settings, [next(rows) for _ in range(rows_per_request)]) for _ in range(calls)]


def _mark(line: str) -> None:
    print(line, flush=True)


async def raw_calls(settings: Settings, requests: list, concurrency: int, mark=_mark) -> float:
    """Warm up, then time len(requests) calls; returns calls per second."""
    client = make_client(settings)
    pending = iter(requests)

    async def worker() -> None:
        for contents, config in pending:  # one shared iterator: each request is sent once
            await client.aio.models.generate_content(model=settings.model, contents=contents, config=config)

    async with client.aio:  # closes its aiohttp session on this loop
        await asyncio.gather(*(client.aio.models.generate_content(model=settings.model, contents=c, config=g)
                               for c, g in requests[:RAW_WARMUP]))  # connections and lazy imports
        mark(START)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        mark(END)
        return len(requests) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--rows-per-request", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=RAW_CONCURRENCY)
    args = parser.parse_args()
    settings = Settings()
    requests = requests_for(settings, args.calls, args.rows_per_request)
    rate = asyncio.run(raw_calls(settings, requests, args.concurrency))
    print(json.dumps({"calls_per_second": round(rate, 1), "calls": args.calls, "warmup_calls": RAW_WARMUP}))


if __name__ == "__main__":
    main()
