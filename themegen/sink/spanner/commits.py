"""Split writes into commits that stay inside Cloud Spanner's per-commit mutation limit (pure).

Spanner counts an insert_or_update as one mutation per column written (plus one per secondary
index entry) and a delete as one per key; 80,000 per commit is the hard limit. The emulator does
not enforce it, so we do, with a configurable lower budget (smaller commits also retry cheaper).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

SPANNER_MAX_MUTATIONS_PER_COMMIT = 80_000

# (table, columns or None for deletes, mutations per item, items)
Group = tuple[str, tuple[str, ...] | None, int, Sequence]


def pack_commits(groups: list[Group], budget: int) -> Iterator[list[tuple]]:
    """Commits of (table, columns, items) parts, each part's items × mutations within `budget`,
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
