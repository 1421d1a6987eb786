"""Where a process's CPU went, by component, from py-spy's collapsed stacks (`--format raw`).

bench/throughput.py --profile DIR writes DIR/flow-<i>.txt (each flow process from its first request
to its end) and DIR/raw-<before|after>.txt (the raw client's timed calls); this prints one table per
kind and their shares. py-spy leaves idle threads out, so the samples are CPU (on-CPU Python stacks).

A sample belongs to the DEEPEST frame of its stack that one of COMPONENTS names (so a pydantic call
made by google-genai is google-genai's, a gRPC call made by the Spanner client is the Spanner
client's); a stack no component names falls back to FALLBACK (the event loop's own work, gRPC's
and other threads), else "other". Anything under an import is "imports".

    python -m bench.profile_breakdown DIR [--flow-ms 3.1 --raw-ms 1.9] [--top 8]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

IMPORTS = "imports (lazy, at run time)"
OTHER = "other"
_OURS = r"^(?!.*site-packages).*/"  # a frame of this repository, not of an installed package
COMPONENTS: list[tuple[str, str]] = [  # (component, regex on "function (file:line)")
    ("row cache (themegen/cache)", r"/themegen/cache/"),
    ("limiter (themegen/limiter, asyncio-throttle)", r"/themegen/limiter/|/asyncio_throttle/"),
    ("Spanner client (themegen/sink, google-cloud-spanner)", r"/themegen/sink/|/google/cloud/spanner"),
    ("BigQuery read (themegen/source, google-cloud-bigquery)", r"/themegen/source/|/google/cloud/bigquery"),
    ("google-genai (request conversion, response parsing)", r"/google/genai/"),
    ("aiohttp (HTTP transport)", r"/aiohttp/|/yarl/|/multidict/|/aiohappyeyeballs/"),
    ("tenacity (retry wrapper per request)", r"/tenacity/"),
    ("generator (themegen/llm)", r"/themegen/llm/"),
    ("pipeline bookkeeping (themegen/pipeline)", r"/themegen/pipeline/"),
    ("domain (prompt, validation, models)", r"/themegen/domain/|/themegen/tiers/|/themegen/config/"),
    ("report & progress (themegen/report)", r"/themegen/report/"),
    ("tasks & flows (ours)", _OURS + r"(tasks|flows|blocks)/\w+\.py"),
    ("Prefect API client, events, logging", r"/prefect/(client|events|logging|concurrency|_internal/concurrency)/"),
    ("Prefect task/flow engine", r"/prefect/"),
]
FALLBACK: list[tuple[str, str]] = [
    ("event loop (asyncio)", r"/asyncio/|/selectors\.py"),
    ("gRPC background", r"/grpc/"),
    ("threads (threading, concurrent.futures)", r"/threading\.py|/concurrent/"),
]
_COMPILED = [(name, re.compile(pattern)) for name, pattern in COMPONENTS]
_FALLBACK = [(name, re.compile(pattern)) for name, pattern in FALLBACK]


def parse_line(line: str) -> tuple[list[str], int] | None:
    """One collapsed-stack line: frames root first, and its sample count (pure)."""
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    return stack.split(";"), int(count)


def _deepest(frames: list[str], rules) -> tuple[str, str] | None:
    for frame in reversed(frames):
        for name, pattern in rules:
            if pattern.search(frame):
                return name, frame
    return None


def classify(frames: list[str]) -> tuple[str, str]:
    """(component, the frame that decided it) of one stack (pure)."""
    if any("<frozen importlib" in frame or "importlib/" in frame for frame in frames):
        return IMPORTS, ""
    return _deepest(frames, _COMPILED) or _deepest(frames, _FALLBACK) or (OTHER, frames[-1] if frames else "")


def _function(frame: str) -> str:
    """'func (/long/path/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py)'."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    path = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", match.group(2))
    path = re.sub(r"^/.*?/(themegen|tasks|flows|bench)/", r"\1/", path)
    return f"{match.group(1)} ({path})"


def breakdown(lines) -> tuple[int, Counter[str], dict[str, Counter[str]]]:
    """(samples, samples per component, per component: samples per deciding function) (pure)."""
    total, by_component, by_function = 0, Counter(), {}
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            continue
        frames, count = parsed
        component, frame = classify(frames)
        total += count
        by_component[component] += count
        by_function.setdefault(component, Counter())[_function(frame)] += count
    return total, by_component, by_function


def table(title: str, total: int, by_component: Counter[str], ms_per_request: float | None,
          by_function: dict[str, Counter[str]] | None = None, top: int = 0) -> str:
    """A markdown table: share of the samples and, given the CPU ms per request, ms per request."""
    head = f"{title}: {total:,} samples" + (f", {ms_per_request} ms CPU per request" if ms_per_request else "")
    rows = [head, "", "| component | share | ms per request |", "|---|---:|---:|"]
    for name, count in by_component.most_common():
        share = count / total
        ms = f"{share * ms_per_request:.3f}" if ms_per_request else ""
        rows.append(f"| {name} | {100 * share:.1f}% | {ms} |")
        for function, n in (by_function or {}).get(name, Counter()).most_common(top):
            rows.append(f"|   {function} | {100 * n / total:.1f}% | |")
    return "\n".join(rows)


def breakdown_files(directory: Path, flow_ms: float | None = None, raw_ms: float | None = None,
                    top: int = 0, out=sys.stderr) -> dict:
    """Print a table per kind (flow, raw) of DIR's profiles; return the shares as a dict."""
    shares = {}
    for kind, ms in (("flow", flow_ms), ("raw", raw_ms)):
        files = sorted(Path(directory).glob(f"{kind}-*.txt"))
        if not files:
            continue
        lines = [line for path in files for line in path.read_text().splitlines()]
        total, by_component, by_function = breakdown(lines)
        if not total:
            continue
        print(table(f"{kind} ({', '.join(p.name for p in files)})", total, by_component, ms, by_function, top),
              file=out)
        print(file=out)
        shares[kind] = {"samples": total, "shares": {name: round(count / total, 4)
                                                     for name, count in by_component.most_common()}}
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--flow-ms", type=float, default=None, help="the flow's CPU ms per request (from the bench)")
    parser.add_argument("--raw-ms", type=float, default=None, help="the raw client's CPU ms per call")
    parser.add_argument("--top", type=int, default=0, help="functions shown per component")
    args = parser.parse_args()
    print(json.dumps(breakdown_files(args.directory, args.flow_ms, args.raw_ms, args.top, out=sys.stdout)))


if __name__ == "__main__":
    main()
