"""Rates of the judged sample with 95% Wilson score intervals (pure).

Wilson, not the normal approximation: it stays inside [0, 1] and is honest at rates near 0 or 1,
which is where a good run's failure rates sit (0 failures in n themes gives [0, 3.8/n], not [0, 0])."""

from __future__ import annotations

import math
from collections.abc import Sequence

from themegen.quality.rubric import CHECKS, Verdict

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The 95% Wilson score interval of successes/n; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # exact at the ends (no rounding error): nothing or everything passed
    return (0.0 if successes == 0 else max(0.0, centre - half)), (1.0 if successes == n else min(1.0, centre + half))


def check_counts(verdicts: Sequence[Verdict]) -> dict[str, tuple[int, int]]:
    """Per check, (passed, judged): themes for the theme checks, rows for cover."""
    counts = {name: [0, 0] for name in (*CHECKS, "cover")}
    for verdict in verdicts:
        for flags in verdict.themes:
            for name, passed in zip(CHECKS, flags):
                counts[name][0] += passed
                counts[name][1] += 1
        counts["cover"][0] += verdict.cover
        counts["cover"][1] += 1
    return {name: (passed, judged) for name, (passed, judged) in counts.items()}
