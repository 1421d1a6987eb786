"""The judged sample recovers injected fault rates: the simulator's faults (known shares per model)
and its judge, through our rubric's request and parser, the sampler and the Wilson intervals, in
process (a full flow per seed would take minutes; tests/flows/test_quality.py runs one)."""

from __future__ import annotations

from functools import cache

import pytest

from local_stack.gemini_sim.config import QualityFaults
from local_stack.gemini_sim.judge import judge_text
from local_stack.gemini_sim.quality import with_faults
from local_stack.sample_data import generate_rows
from themegen.domain.prompt import input_hash, prepare_text
from themegen.quality.rubric import JudgeRow, judge_content, parse_judgements
from themegen.quality.sample import sample
from themegen.quality.stats import check_counts, wilson

SEEDS = range(20)
SAMPLE_ROWS = 400
INJECTED = {"specific": 0.10, "grounded": 0.05, "distinct": 0.05}  # generic, unsupported, duplicated


@cache
def texts() -> tuple[tuple[str, str], ...]:
    rows = generate_rows(6000, seed=3)
    return tuple((r["id"], prepare_text(r["text"], 10**6)) for r in rows if r["text"] and r["text"].strip())


def judged_intervals(faults: QualityFaults | None, seed: int) -> dict[str, tuple[float, float]]:
    """Each check's 95% interval of its failure rate, on a 400-row sample of themes the simulated
    model gave with `faults`, judged by the simulated judge 10 rows per request."""
    pool = [JudgeRow(i, t, tuple(with_faults(t, "gemini-sim", faults)), input_hash(t)) for i, t in texts()]
    rows = sample(pool, SAMPLE_ROWS, seed, lambda row: row.id)
    verdicts = []
    for start in range(0, len(rows), 10):
        pack = rows[start:start + 10]
        answer, _ = judge_text(judge_content(pack))
        verdicts += parse_judgements(answer, pack).values()
    intervals = {}
    for check, (passed, n) in check_counts(verdicts).items():
        low, high = wilson(passed, n)
        intervals[check] = (1 - high, 1 - low)  # of the failure rate
    return intervals


def test_injected_rates_are_inside_their_95_percent_interval_in_at_least_19_of_20_seeds():
    faults = QualityFaults(generic=0.10, unsupported=0.05, duplicated=0.05)
    covered = {check: 0 for check in INJECTED}
    for seed in SEEDS:
        intervals = judged_intervals(faults, seed)
        for check, rate in INJECTED.items():
            low, high = intervals[check]
            covered[check] += low <= rate <= high
        assert intervals["language"][0] == 0.0  # none injected
    assert all(hits >= 19 for hits in covered.values()), covered


@pytest.mark.parametrize("seed", [0, 7])
def test_without_faults_every_interval_includes_zero(seed):
    intervals = judged_intervals(None, seed)
    assert all(low == 0.0 for low, _ in intervals.values()), intervals
