"""Identical texts are paid once: rows whose prepared text (and model and prompt) are the same take
one answer. Customer feedback repeats itself ("Great!", "ありがとう"), and each repeat would
otherwise be a request of its own.

Three places a repeat finds its answer, cheapest first:
1. the row cache under the text's own key (`text_cache_key`): an earlier batch or run answered it;
2. another batch of this run asking it right now (`TextShare`, one per run, in this process);
3. the same batch: one row per distinct text is asked, the rest copy its outcome.

A repeat copies the outcome whatever it is: themes, or a failure (a declined text is declined for
every row that holds it; a transient failure is retried for all of them by a rerun).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from themegen.cache import CacheReadError, RowCache
from themegen.domain.models import RowFailure
from themegen.domain.prompt import InvalidAnswer, parse_answer


@dataclass(frozen=True)
class Outcome:
    """What one text got: themes, or the failure of the row that asked it."""

    themes: list[str] | None = None
    failure: RowFailure | None = None


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


async def cached_outcomes(keys: list[str], cache: RowCache, retry_failed: bool) -> dict[str, Outcome]:
    """Outcomes the row cache holds under these text keys (an unreadable cache: none, so the rows
    are asked by one row per text, never by all)."""
    try:
        hits = await cache.get_many(keys)
    except CacheReadError:
        return {}
    found = {}
    for key, hit in hits.items():
        if hit.failure_reason is not None:
            if not retry_failed:
                found[key] = Outcome(failure=RowFailure(source_id="", batch_id=0, reason=hit.failure_reason,
                                                        error=hit.failure or hit.failure_reason.value, attempts=0))
            continue
        try:
            found[key] = Outcome(themes=parse_answer(hit.raw_text))
        except InvalidAnswer:
            pass  # the validator got stricter since: asked again
    return found


Ask = Callable[[list], Awaitable[dict[str, Outcome]]]


async def ask_once_per_text(rows: list, keys: dict[str, str], share: TextShare, ask: Ask
                            ) -> list[tuple[object, Outcome]]:
    """Ask Gemini one row per distinct text; return the other rows with the outcome they take.

    rows: pending rows (with `.id`); keys: row id -> text key; ask: sends rows to Gemini, settles
    them in the batch and returns row id -> outcome. A text another batch of the run is asking is
    awaited instead; should that batch get no answer (it failed whole), this one asks it itself."""
    by_text: dict[str, list] = {}
    for row in rows:
        by_text.setdefault(keys[row.id], []).append(row)
    claims = {key: share.claim(key) for key in by_text}
    mine = [key for key, other in claims.items() if other is None]
    outcomes: dict[str, Outcome | None] = {}
    try:
        answered = await ask([by_text[key][0] for key in mine])
        # `ask` has cached each answer under its text's key already: a batch arriving later finds it there.
        for key in mine:
            outcomes[key] = answered.get(by_text[key][0].id)
    finally:
        for key in mine:
            share.settle(key, outcomes.get(key))
    copies = [(row, outcomes[key]) for key in mine if outcomes.get(key) for row in by_text[key][1:]]
    awaited = {key: await other for key, other in claims.items() if other is not None}
    unanswered = [key for key, outcome in awaited.items() if outcome is None]
    answered = await ask([by_text[key][0] for key in unanswered]) if unanswered else {}
    for key, outcome in awaited.items():
        group = by_text[key]
        if outcome is not None:
            copies += [(row, outcome) for row in group]
        elif answered.get(group[0].id) is not None:
            copies += [(row, answered[group[0].id]) for row in group[1:]]
    return copies
