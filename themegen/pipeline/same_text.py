"""Identical texts are paid once: rows whose prepared text (and model and prompt) are the same take
one answer. Customer feedback repeats itself ("Great!", "ありがとう"), and each repeat would
otherwise be a request of its own.

Three places a repeat finds its answer, cheapest first:
1. the row cache under the text's own key (`Generation.text_key`): an earlier batch or run answered it;
2. another batch of this run asking it right now (`TextShare`, one per run, in this process);
3. the same batch: one row per distinct text is asked, the rest copy its outcome.

A repeat copies the outcome whatever it is: themes, or a failure (a declined text is declined for
every row that holds it; a transient failure is retried for all of them by a rerun). This module
only keeps the run's shared state and reads the cache; settle.py drives a batch through it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from themegen.cache import CachedAnswer
from themegen.domain.models import RowFailure
from themegen.domain.prompt import InvalidAnswer, parse_answer


@dataclass(frozen=True)
class Outcome:
    """What one text got: themes, or the failure of the row that asked it."""

    themes: list[str] | None = None
    failure: RowFailure | None = None


def read_entry(entry: CachedAnswer, retry_failed: bool) -> Outcome | None:
    """What a row cache entry settles (pure): themes, a permanent failure (not sent again unless
    retry_failed), or None: ask again (retry_failed, or the validator got stricter since it was cached)."""
    if entry.failure_reason is not None:
        if retry_failed:
            return None
        # The recorded message as it was, so the sink's failure row is not rewritten on every rerun.
        return Outcome(failure=RowFailure(source_id="", batch_id=0, reason=entry.failure_reason,
                                          error=entry.failure or entry.failure_reason.value, attempts=0))
    try:
        return Outcome(themes=parse_answer(entry.raw_text))
    except InvalidAnswer:
        return None


class TextShare:
    """This run's texts being asked right now, by the batch that asks them: text key -> outcome."""

    def __init__(self) -> None:
        self._asking: dict[str, asyncio.Future[Outcome | None]] = {}

    def claim(self, key: str) -> asyncio.Future[Outcome | None] | None:
        """None: the caller asks this text and must `settle` it; else the future of the batch that does."""
        if key in self._asking:
            return self._asking[key]
        self._asking[key] = asyncio.get_running_loop().create_future()
        return None

    def settle(self, key: str, outcome: Outcome | None) -> None:
        """Hand the outcome to waiting batches (None: no answer came, they ask themselves)."""
        future = self._asking.pop(key, None)
        if future is not None and not future.done():
            future.set_result(outcome)


def by_text(rows: list, keys: dict[str, str]) -> dict[str, list]:
    """Text key -> the rows holding that text, in order (the first is the one asked)."""
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(keys[row.id], []).append(row)
    return groups
