import pytest

from themegen.sink.commits import SPANNER_MAX_MUTATIONS_PER_COMMIT, chunked, rows_per_commit
from themegen.sink.spanner import MUTATIONS_PER_FAILURE_ROW, MUTATIONS_PER_THEME_ROW


@pytest.mark.parametrize("rows", [0, 1, 99, 100, 11_428, 11_429, 30_000, 250_001])
@pytest.mark.parametrize("budget", [16, 1_000, 20_000, SPANNER_MAX_MUTATIONS_PER_COMMIT])
@pytest.mark.parametrize("per_row", [MUTATIONS_PER_THEME_ROW, MUTATIONS_PER_FAILURE_ROW])
def test_every_commit_fits_the_limit_and_every_row_is_written_once(rows, budget, per_row):
    items = list(range(rows))
    chunks = list(chunked(items, rows_per_commit(per_row, budget)))
    assert all(len(c) * per_row <= budget <= SPANNER_MAX_MUTATIONS_PER_COMMIT for c in chunks)
    assert [i for c in chunks for i in c] == items


def test_budget_over_spanner_limit_is_refused():
    with pytest.raises(ValueError, match="80000"):
        rows_per_commit(7, 80_001)
