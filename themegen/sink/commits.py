"""Split writes into commits that stay inside Cloud Spanner's per-commit mutation limit (pure).

Spanner counts an insert_or_update as one mutation per column written (plus one per secondary
index entry) and a delete as one per key; 80,000 per commit is the hard limit. The emulator does
not enforce it, so we do, with a configurable lower budget (smaller commits also retry cheaper).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

SPANNER_MAX_MUTATIONS_PER_COMMIT = 80_000
T = TypeVar("T")


def rows_per_commit(mutations_per_row: int, budget: int = SPANNER_MAX_MUTATIONS_PER_COMMIT) -> int:
    if not 0 < budget <= SPANNER_MAX_MUTATIONS_PER_COMMIT:
        raise ValueError(f"mutation budget must be in 1..{SPANNER_MAX_MUTATIONS_PER_COMMIT}, got {budget}")
    if mutations_per_row > budget:
        raise ValueError(f"one row needs {mutations_per_row} mutations, more than the budget {budget}")
    return budget // mutations_per_row


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
