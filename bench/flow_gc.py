"""Run `themegen ...` in this process under other garbage-collector settings (bench only).

bench/throughput.py --flow-gc SPEC launches the flows through this module instead of
`python -m themegen.cli.app`, to measure a GC setting for the flow process without editing the
flow: SPEC is "T0,T1,T2" (gc.set_threshold) and/or "freeze" (gc.freeze() once the flow's modules
are imported: Prefect, the Google clients, ours; the collector then never scans them again),
joined by "+", e.g. "10000,10,10+freeze".

    python -m bench.flow_gc 10000,10,10+freeze run --json --rows 1000
"""

from __future__ import annotations

import gc
import runpy
import sys


def parse_spec(spec: str) -> tuple[tuple[int, ...] | None, bool]:
    """(thresholds or None, freeze) (pure)."""
    thresholds, freeze = None, False
    for part in filter(None, spec.split("+")):
        if part == "freeze":
            freeze = True
        else:
            thresholds = tuple(int(v) for v in part.split(","))
            if not 1 <= len(thresholds) <= 3:
                raise ValueError(f"gc thresholds are 1 to 3 integers, got {part!r}")
    return thresholds, freeze


def main() -> None:
    thresholds, freeze = parse_spec(sys.argv[1])
    if thresholds:
        gc.set_threshold(*thresholds)
    if freeze:
        import flows.generate_themes  # noqa: F401 - the flow's imports, made before the freeze

        gc.collect()
        gc.freeze()
    sys.argv = ["themegen", *sys.argv[2:]]
    runpy.run_module("themegen.cli.app", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
