import math

import pytest

from themegen.quality.rubric import Verdict
from themegen.quality.stats import check_counts, wilson


@pytest.mark.parametrize(("passed", "n", "low", "high"), [
    (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634), (81, 263, 0.2553, 0.3662),
])
def test_wilson_matches_published_values(passed, n, low, high):
    # Newcombe (1998), Statistics in Medicine 17: 857-872, table I (81/263), and the closed form at the ends
    got = wilson(passed, n)
    assert math.isclose(got[0], low, abs_tol=1e-4) and math.isclose(got[1], high, abs_tol=1e-4)


def test_no_data_is_the_whole_range():
    assert wilson(0, 0) == (0.0, 1.0)


def test_counts_are_per_theme_and_cover_per_row():
    good, bad = (True, True, True, True), (True, False, True, True)
    verdicts = [Verdict((good,) * 6, True), Verdict((good,) * 5 + (bad,), False)]
    counts = check_counts(verdicts)
    assert counts["specific"] == (11, 12) and counts["grounded"] == (12, 12) and counts["cover"] == (1, 2)
