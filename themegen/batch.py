"""One batch's rows: cache first, Gemini for the rest, every valid answer cached the moment it
validates (so a crash or a failed batch costs only the calls in flight)."""

from __future__ import annotations

import asyncio

from themegen.cache import CachedAnswer, RowCache, cache_key
from themegen.generator.gemini import GeminiGenerator
from themegen.models import RowFailure, SourceRow, ThemeRecord
from themegen.prompt import InvalidAnswer, InvalidInput, input_hash, parse_answer, prepare_text
from themegen.settings import Settings


class RowOutcome:
    __slots__ = ("result", "cached")

    def __init__(self, result: ThemeRecord | RowFailure, cached: bool = False) -> None:
        self.result, self.cached = result, cached


def to_record(source_id: str, themes: list[str], digest: str, settings: Settings) -> ThemeRecord:
    return ThemeRecord(source_id=source_id, themes=themes, model=settings.model,
                       prompt_version=settings.prompt_version, input_hash=digest)


async def theme_row(row: SourceRow, batch_id: int, cache: RowCache, generator: GeminiGenerator,
                    settings: Settings) -> RowOutcome:
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
    answer = await generator.answer(row.id, text, batch_id)
    if isinstance(answer, RowFailure):
        return RowOutcome(answer)
    await cache.put(key, CachedAnswer(raw_text=answer.raw_text, input_tokens=answer.input_tokens,
                                      output_tokens=answer.output_tokens))
    return RowOutcome(to_record(row.id, answer.themes, digest, settings))


async def theme_rows(rows: list[SourceRow], batch_id: int, cache: RowCache, generator: GeminiGenerator,
                     settings: Settings) -> list[RowOutcome]:
    return list(await asyncio.gather(*(theme_row(r, batch_id, cache, generator, settings) for r in rows)))


