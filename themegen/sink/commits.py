"""Split a batch's writes into commits of a bounded size (pure; every sink uses it).

Each group of items weighs so much per item (Spanner: mutations per row; PostgreSQL: one row), and
a commit holds at most `budget`, so no commit exceeds the database's limit or grows with the batch,
and a retried commit repeats little.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

# (table, columns or None for deletes, weight per item, items)
Group = tuple[str, tuple[str, ...] | None, int, Sequence]


def pack_commits(groups: list[Group], budget: int) -> Iterator[list[tuple]]:
    """Commits of (table, columns, items) parts, each part's items × weight within `budget`,
    groups kept in order (upserts before the deletes that follow them)."""
    commit: list[tuple] = []
    room = budget
    for table, columns, per_item, items in groups:
        if per_item > budget:
            raise ValueError(f"one {table} row needs {per_item} mutations, more than the budget {budget}")
        start = 0
        while start < len(items):
            take = min(len(items) - start, room // per_item)
            if take == 0:
                yield commit
                commit, room = [], budget
                continue
            commit.append((table, columns, items[start:start + take]))
            room -= take * per_item
            start += take
    if commit:
        yield commit
