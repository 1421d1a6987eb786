"""Benchmark: does the taxonomy step's memory stay flat as the rows grow?

For each size in --sizes (against the stack in THEMEGEN_STATE_DIR, started if it does not answer):
fills the Spanner Themes table with that many rows of the sample (generate_rows) themed as the
Gemini SIMULATOR themes them (its own derive_themes, in a child process, not a generation run: that
is bench.scale's business), empties the taxonomy tables and the row cache, then runs the taxonomy
step (themegen/taxonomy/build.py through the real sink, embedder and namer) in a child process and records
  - distinct_themes, themes_embedded, canonical, groups, mapped_share (of mentions),
  - seconds: the step's own wall time; embed_calls / naming_calls: the simulator's counters,
  - peak_rss_mb: the child's peak resident memory (its own getrusage ru_maxrss), and baseline_rss_mb: its
    resident memory after its imports, before the step (the libraries' share of the peak),
  - rerun_seconds / rerun_embed_calls: the same step again on the same rows (all mapped).
Prints one JSON object per size, then {"runs": [...], "peak_rss_ratio": last/first}. Compare sizes
within one invocation: the machine is shared, so absolute numbers move between runs.

With --distinct, each size is a number of DISTINCT themes instead of rows: the sample's vocabulary
saturates at a few hundred strings, so rows alone never test a large vocabulary. Each row's six
simulator themes get that row's own variant (`variants`: "<theme> #<row>") where the variant keeps
the theme's topic (the simulator's `topic_of_theme` finds it from the theme's signal words, and its
vectors place the theme by that topic), and stay as they are where it would not (a theme known by its
exact string only: about 4 in 10): a head of shared strings and a long tail of distinct ones, with
rows added until `size` distinct variants exist. Each run also reports
`nmi`: normalized mutual information between each mapped theme's canonical theme and its
`topic_of_theme` ("none" where it has none), over a hash sample of about NMI_THEMES mapped themes.

    python -m bench.taxonomy --sizes 30000,1000000
    python -m bench.taxonomy --distinct --sizes 30000,1000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # `python bench/taxonomy.py` as well as `python -m bench.taxonomy`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ensure_stack, sim  # noqa: E402

ROWS_PER_COMMIT = 1_000  # 7 columns each: well inside Spanner's mutations per commit
NMI_THEMES = 20_000  # mapped themes the NMI is computed over, about (topic_of_theme is slow-ish)


def _database(settings):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import spanner

    client = spanner.Client(project=settings.gcp_project, credentials=AnonymousCredentials(),
                            disable_builtin_metrics=True)
    return client.instance(settings.spanner.instance).database(settings.spanner.database)


def variants(themes: list[str], row: int) -> tuple[list[str], int]:
    """A row's own version of each theme whose topic survives it (module docstring); how many."""
    from local_stack.gemini_sim import topic_of_theme

    out = [varied if topic_of_theme(varied := f"{theme} #{row}") == topic_of_theme(theme) else theme
           for theme in themes]
    return out, sum(a != b for a, b in zip(out, themes, strict=True))


def fill(size: int, distinct: bool = False) -> int:
    """Themes of `size` sample rows into an emptied sink, as the simulator themes them (a child process);
    with `distinct`, of as many rows as make `size` distinct themes, each row's its own variants. The rows
    written."""
    from google.cloud import spanner

    from local_stack import gcs
    from local_stack.gemini_sim import derive_themes
    from local_stack.sample_data import generate_rows
    from themegen.config.settings import Settings

    settings = Settings()
    database, s = _database(settings), settings.spanner
    for table in (s.table, s.failures_table, s.canonical_table, s.theme_map_table):
        database.execute_partitioned_dml(f"DELETE FROM {table} WHERE TRUE")
    shutil.rmtree(settings.cache.path, ignore_errors=True)  # the row cache: no vector cached from a size before
    if host := os.environ.get("STORAGE_EMULATOR_HOST"):  # the stack's default cache: a bucket on the emulator
        gcs.empty_bucket(int(host.rsplit(":", 1)[1]))
    chunk, written, rows = [], 0, 0
    for n, row in enumerate(generate_rows(size if not distinct else 10 * size)):
        if distinct and written >= size:
            break
        if row["text"] and row["text"].strip():
            themes, varied = variants(derive_themes(row["text"]), n) if distinct else (derive_themes(row["text"]), 0)
            chunk.append((row["id"], themes, settings.model, "v1", "bench", "0" * 64, spanner.COMMIT_TIMESTAMP))
            written, rows = written + varied, rows + 1
        if len(chunk) == ROWS_PER_COMMIT:
            _write(database, s.table, chunk)
            chunk = []
    _write(database, s.table, chunk)
    return rows


def _write(database, table: str, rows: list[tuple]) -> None:
    if rows:
        with database.batch() as batch:
            batch.insert_or_update(table, ("SourceId", "Themes", "Model", "PromptVersion", "PromptFingerprint",
                                           "InputHash", "GeneratedAt"), rows)


def nmi(distinct_themes: int) -> dict:
    """NMI of the mapping against the simulator's topics, over a server-side hash sample of the mapped
    themes (FARM_FINGERPRINT), so at a million themes neither Spanner nor this process reads them all."""
    from sklearn.metrics import normalized_mutual_info_score

    from local_stack.gemini_sim import topic_of_theme
    from themegen.config.settings import Settings

    settings = Settings()
    every = max(1, distinct_themes // NMI_THEMES)
    sql = (f"SELECT Theme, CanonicalId FROM {settings.spanner.theme_map_table} "
           f"WHERE CanonicalId IS NOT NULL AND MOD(FARM_FINGERPRINT(Theme), {every}) = 0")
    with _database(settings).snapshot() as snapshot:
        pairs = [(topic_of_theme(theme) or "none", canonical) for theme, canonical in snapshot.execute_sql(sql)]
    if not pairs:
        return {"nmi": None, "nmi_themes": 0, "topicless_share": None}
    truth, found = zip(*pairs, strict=True)
    return {"nmi": round(normalized_mutual_info_score(truth, found), 4), "nmi_themes": len(pairs),
            "topicless_share": round(truth.count("none") / len(pairs), 4)}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def step() -> dict:
    """The taxonomy step once, in this (child) process; its numbers."""
    from themegen.config.settings import Settings
    from themegen.llm.gemini.client import close_clients
    from themegen.sink import open_sink
    from themegen.taxonomy import open_embedder, open_namer
    from themegen.taxonomy.build import build_taxonomy

    settings = Settings()
    baseline = _rss_mb()

    async def build():
        sink = open_sink(settings)
        try:
            return await build_taxonomy(settings.taxonomy, sink, await open_embedder(settings),
                                        await open_namer(settings))
        finally:
            sink.close()
            await close_clients()

    started = time.monotonic()
    report = asyncio.run(build())
    return {"seconds": round(time.monotonic() - started, 2), "distinct_themes": report.distinct_themes,
            "themes_embedded": report.themes_embedded, "canonical": report.canonical, "groups": report.groups,
            "mapped_share": round(1 - report.unclustered_share, 4), "baseline_rss_mb": round(baseline, 1),
            # the process's own peak (getrusage's ru_maxrss, KiB on Linux): nothing else runs in it
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _child(*args: str) -> dict:
    """Run this module with args in a child process; its last JSON line. The embedding quota is lifted
    (the simulator has none by default): Tier 1's 3,000 texts a minute would time the pacing, not the step."""
    done = subprocess.run([sys.executable, "-m", "bench.taxonomy", *args], stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "THEMEGEN_TAXONOMY_EMBED_RPM": "10000000"})
    if done.returncode:
        raise SystemExit(f"bench.taxonomy {' '.join(args)} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(size: int, distinct: bool) -> dict:
    started = time.monotonic()
    filled = _child("--fill", str(size), *(["--distinct"] if distinct else []))
    fill_seconds = time.monotonic() - started
    sim("reset", {})
    first = _child("--step")
    calls = sim("stats")
    sim("reset", {})
    again = _child("--step")
    rerun = sim("stats")
    return {"size": size, "distinct_mode": distinct, "rows": filled["rows"], **first, **nmi(first["distinct_themes"]),
            "fill_seconds": round(fill_seconds, 1),
            "embed_calls": calls["embed"]["requests"], "naming_calls": calls["naming"]["requests"],
            "rerun_seconds": again["seconds"], "rerun_embed_calls": rerun["embed"]["requests"],
            "rerun_naming_calls": rerun["naming"]["requests"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30000,1000000", help="rows, or distinct themes with --distinct")
    parser.add_argument("--distinct", action="store_true", help="sizes count distinct themes (module docstring)")
    parser.add_argument("--fill", type=int, help=argparse.SUPPRESS)  # child: fill the sink
    parser.add_argument("--step", action="store_true", help=argparse.SUPPRESS)  # child: run the step
    args = parser.parse_args()
    ensure_stack()
    if args.fill is not None:
        print(json.dumps({"rows": fill(args.fill, args.distinct)}))
        return
    if args.step:
        print(json.dumps(step()), flush=True)
        return
    runs = []
    for size in (int(size) for size in args.sizes.split(",")):
        runs.append(measure(size, args.distinct))
        print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"runs": runs, "peak_rss_ratio": round(runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 3)}))


if __name__ == "__main__":
    main()
