import pytest

from themegen.sink.commits import pack_commits
from themegen.sink.spanner.commits import SPANNER_MAX_MUTATIONS_PER_COMMIT


@pytest.mark.parametrize("rows", [0, 1, 99, 100, 11_428, 11_429, 30_000])
@pytest.mark.parametrize("budget", [16, 1_000, 20_000, SPANNER_MAX_MUTATIONS_PER_COMMIT])
def test_every_commit_fits_the_limit_and_every_item_is_written_once_in_order(rows, budget):
    groups = [("Themes", ("a",) * 7, 7, list(range(rows))), ("ThemeFailures", ("b",) * 7, 7, list(range(rows // 3))),
              ("Themes", None, 1, [f"d{i}" for i in range(rows // 2)])]
    commits = list(pack_commits(groups, budget))
    assert all(0 < sum(len(items) * (7 if cols else 1) for _, cols, items in c) <= budget for c in commits)
    for table, columns, _, items in groups:
        written = [i for c in commits for t, cols, part in c if (t, cols) == (table, columns) for i in part]
        assert written == items


def test_a_row_larger_than_the_budget_is_refused():
    with pytest.raises(ValueError, match="more than the budget 6"):
        list(pack_commits([("Themes", ("a",) * 7, 7, [1])], 6))
