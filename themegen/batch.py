"""One batch's rows: cache first, Gemini for the rest, every valid answer cached the moment it
validates (so a crash or a failed batch costs only the calls in flight).

With rows_per_request = k > 1 the uncached rows go to Gemini k at a time; a row whose item is
missing or invalid in a packed answer is asked again alone (with the single-row repair retry).
The cache key does not depend on k: an answer is reused whatever packing produced it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from themegen.cache import CachedAnswer, RowCache, cache_key
from themegen.generator.gemini import Answer, GeminiGenerator
from themegen.models import RowFailure, SourceRow, ThemeRecord
from themegen.prompt import InvalidAnswer, InvalidInput, input_hash, parse_answer, prepare_text
from themegen.settings import Settings


class RowOutcome:
    __slots__ = ("result", "cached")

    def __init__(self, result: ThemeRecord | RowFailure, cached: bool = False) -> None:
        self.result, self.cached = result, cached


@dataclass(frozen=True)
class PendingRow:
    """A row that needs Gemini: its prepared text, the text's hash and its cache key."""

    id: str
    text: str
    digest: str
    key: str


def to_record(source_id: str, themes: list[str], digest: str, settings: Settings) -> ThemeRecord:
    return ThemeRecord(source_id=source_id, themes=themes, model=settings.model,
                       prompt_version=settings.prompt_version, input_hash=digest)


async def _from_cache(row: SourceRow, batch_id: int, cache: RowCache, settings: Settings) -> RowOutcome | PendingRow:
    """The row's outcome without Gemini (bad input, or cached), else what asking Gemini needs."""
    try:
        text = prepare_text(row.text, settings.max_input_chars)
    except InvalidInput as exc:
        return RowOutcome(RowFailure(source_id=row.id, batch_id=batch_id, error=str(exc), attempts=0))
    digest = input_hash(text)  # one hash serves the cache key and the stored InputHash
    key = cache_key(row.id, settings.model, settings.prompt_version, digest)
    if hit := await cache.get(key):
        try:
            return RowOutcome(to_record(row.id, parse_answer(hit.raw_text), digest, settings), cached=True)
        except InvalidAnswer:
            pass  # the validator got stricter since this answer was cached: ask again
    return PendingRow(row.id, text, digest, key)


async def _keep(row: PendingRow, answer: Answer | RowFailure, cache: RowCache, settings: Settings) -> RowOutcome:
    if isinstance(answer, RowFailure):
        return RowOutcome(answer)
    await cache.put(row.key, CachedAnswer(raw_text=answer.raw_text, input_tokens=answer.input_tokens,
                                          output_tokens=answer.output_tokens))
    return RowOutcome(to_record(row.id, answer.themes, row.digest, settings))


async def _alone(row: PendingRow, batch_id: int, cache: RowCache, generator: GeminiGenerator,
                 settings: Settings) -> RowOutcome:
    return await _keep(row, await generator.answer(row.id, row.text, batch_id), cache, settings)


async def _packed(rows: list[PendingRow], batch_id: int, cache: RowCache, generator: GeminiGenerator,
                  settings: Settings) -> list[RowOutcome]:
    if len(rows) == 1:  # a lone leftover row: the single-row schema is cheaper and has the repair retry
        return [await _alone(rows[0], batch_id, cache, generator, settings)]
    answers = await generator.answer_pack([(r.id, r.text) for r in rows], batch_id)
    return list(await asyncio.gather(*(
        _alone(r, batch_id, cache, generator, settings) if answers[r.id] is None
        else _keep(r, answers[r.id], cache, settings)
        for r in rows
    )))


async def theme_rows(rows: list[SourceRow], batch_id: int, cache: RowCache, generator: GeminiGenerator,
                     settings: Settings) -> list[RowOutcome]:
    """Outcomes in the order of `rows`."""
    found = await asyncio.gather(*(_from_cache(r, batch_id, cache, settings) for r in rows))
    pending = [f for f in found if isinstance(f, PendingRow)]
    k = settings.rows_per_request
    if k == 1:
        answered = await asyncio.gather(*(_alone(r, batch_id, cache, generator, settings) for r in pending))
    else:
        packs = await asyncio.gather(*(
            _packed(pending[i:i + k], batch_id, cache, generator, settings) for i in range(0, len(pending), k)
        ))
        answered = [outcome for pack in packs for outcome in pack]
    answers = iter(answered)  # same order as `pending`
    return [next(answers) if isinstance(f, PendingRow) else f for f in found]
