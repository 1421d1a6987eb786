"""One batch's rows, settled against the run's record of what is done.

1. rows whose text cannot be sent fail at once (INPUT);
2. Spanner says which rows already hold themes for their current input, model and prompt: those
   are done and not touched (one bulk read per batch);
3. the row cache answers the rest where it can: answers paid for earlier, and permanent failures
   (declined or invalid after the repair retry), which are not paid for again unless retry_failed;
4. identical texts are paid once (themegen/pipeline/same_text.py): a row takes the answer its text already
   has in the row cache, or that another batch of the run is asking for, and of the rest one row
   per distinct text is asked;
5. Gemini answers what is left (rows_per_request rows per request; a row whose item is missing or
   invalid in a packed answer is asked again alone), each answer cached the moment it validates;
6. the batch writes its own outcome to Spanner before it ends: themes, failures, and deletes of
   rows they make stale (an old failure of a row that now has themes, old themes of a row that
   now fails). If Spanner refuses, the answers stay in the row cache and the run stops spending.

Without a generator (the final upsert) step 5 is skipped: what the cache holds is written.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from themegen.cache import CachedAnswer, CacheReadError, cache_key, text_cache_key
from themegen.pipeline.edges import Edges
from themegen.llm.gemini.generator import Answer, GeminiGenerator
from themegen.domain.models import PERMANENT, BatchResult, Reason, RowFailure, SourceRow, ThemeRecord
from themegen.domain.prompt import InvalidAnswer, InvalidInput, input_hash, parse_answer, prepare_text, prompt_fingerprint
from themegen.pipeline.same_text import Outcome, ask_once_per_text, cached_outcomes
from themegen.config.settings import Settings
from themegen.sink.spanner.client import Stored, Writes


@dataclass(frozen=True)
class Pending:
    """A row that is not done: its prepared text, the text's hash and its cache key."""

    id: str
    text: str
    digest: str
    key: str


class _Outcome:
    """A batch's records and failures while it runs (rows of one batch, never of the run)."""

    def __init__(self, result: BatchResult) -> None:
        self.result = result
        self.records: list[ThemeRecord] = []
        self.failures: list[RowFailure] = []

    def fail(self, row_id: str, reason: Reason, error: str, attempts: int = 0) -> None:
        self.failures.append(RowFailure(source_id=row_id, batch_id=self.result.batch_id, reason=reason,
                                        error=error[:1000], attempts=attempts))


def _record(row: Pending, themes: list[str], settings: Settings, fingerprint: str) -> ThemeRecord:
    return ThemeRecord(source_id=row.id, themes=themes, model=settings.model, prompt_version=settings.prompt_version,
                       prompt_fingerprint=fingerprint, input_hash=row.digest)


def _not_done(rows: list[SourceRow], stored: Stored, settings: Settings, fingerprint: str,
              out: _Outcome) -> list[Pending]:
    """Rows that still need work (pure apart from recording INPUT failures and done counts)."""
    pending = []
    for row in rows:
        try:
            text = prepare_text(row.text, settings.max_input_chars)
        except InvalidInput as exc:
            out.fail(row.id, Reason.INPUT, str(exc))
            continue
        digest = input_hash(text)
        if stored.themes.get(row.id) == (settings.model, settings.prompt_version, fingerprint, digest):
            out.result.done_before += 1
            continue
        pending.append(Pending(row.id, text, digest,
                               cache_key(row.id, settings.model, settings.prompt_version, fingerprint, digest)))
    return pending


async def _from_cache(pending: list[Pending], edges: Edges, fingerprint: str, out: _Outcome) -> list[Pending]:
    """Settle what the cache holds; return the rows it does not."""
    try:
        hits = await edges.cache.get_many([p.key for p in pending])
    except CacheReadError as exc:
        for row in pending:
            out.fail(row.id, Reason.CACHE_ERROR, f"{exc}; not sent to Gemini (it may have been paid for already)")
        return []
    ask = []
    for row in pending:
        hit = hits.get(row.key)
        if hit is not None and hit.failure_reason is not None:
            if not edges.settings.retry_failed:
                # The recorded message as it was, so Spanner's failure row is not rewritten on every rerun.
                out.fail(row.id, hit.failure_reason, hit.failure or hit.failure_reason.value)
                continue
        elif hit is not None:
            try:
                out.records.append(_record(row, parse_answer(hit.raw_text), edges.settings, fingerprint))
                out.result.cached += 1
                continue
            except InvalidAnswer:
                pass  # the validator got stricter since this answer was cached: ask again
        ask.append(row)
    return ask


async def cache_answer(row: Pending, answer: Answer | RowFailure, edges: Edges, fingerprint: str) -> None:
    """Keep an answer (or a permanent failure) under the row's key and its text's, the moment it
    validates: other rows with the text take it. Online answers and a batch job's alike."""
    keys = (row.key, text_cache_key(edges.settings.model, edges.settings.prompt_version, fingerprint, row.digest))
    if isinstance(answer, RowFailure):
        if answer.reason in PERMANENT:
            for key in keys:
                await edges.cache.put(key, CachedAnswer(failure_reason=answer.reason, failure=answer.error))
        return
    for key in keys:
        await edges.cache.put(key, CachedAnswer(raw_text=answer.raw_text, input_tokens=answer.input_tokens,
                                                output_tokens=answer.output_tokens))


async def _keep(row: Pending, answer: Answer | RowFailure, edges: Edges, fingerprint: str, out: _Outcome) -> None:
    await cache_answer(row, answer, edges, fingerprint)
    if isinstance(answer, RowFailure):
        out.failures.append(answer)
        return
    out.records.append(_record(row, answer.themes, edges.settings, fingerprint))
    out.result.answered += 1


async def _ask(rows: list[Pending], generator: GeminiGenerator, edges: Edges, fingerprint: str,
               out: _Outcome) -> None:
    batch_id = out.result.batch_id

    async def alone(row: Pending) -> None:
        await _keep(row, await generator.answer(row.id, row.text, batch_id), edges, fingerprint, out)

    async def packed(pack: list[Pending]) -> None:
        if len(pack) == 1:  # a lone leftover row: the single-row schema is cheaper and has the repair retry
            return await alone(pack[0])
        answers = await generator.answer_pack([(r.id, r.text) for r in pack], batch_id)
        await asyncio.gather(*(alone(r) if answers[r.id] is None else _keep(r, answers[r.id], edges, fingerprint, out)
                               for r in pack))

    k = edges.settings.rows_per_request
    await asyncio.gather(*(packed(rows[i:i + k]) for i in range(0, len(rows), k)))


def _text_keys(rows: list[Pending], settings: Settings, fingerprint: str) -> dict[str, str]:
    return {r.id: text_cache_key(settings.model, settings.prompt_version, fingerprint, r.digest) for r in rows}


def _take(row: Pending, outcome: Outcome, edges: Edges, fingerprint: str, out: _Outcome) -> None:
    """Settle a row with the outcome of an identical text: themes, or a failure its own request would
    have met too (only answers and permanent failures count as requests saved)."""
    if outcome.themes is not None:
        out.records.append(_record(row, outcome.themes, edges.settings, fingerprint))
        out.result.cached += 1
        out.result.shared += 1
    else:
        out.fail(row.id, outcome.failure.reason, outcome.failure.error, outcome.failure.attempts)
        out.result.shared += outcome.failure.reason in PERMANENT


async def _from_same_text(rows: list[Pending], edges: Edges, fingerprint: str, out: _Outcome) -> list[Pending]:
    """Settle rows whose text the row cache has answered (for another row); return the rest."""
    keys = _text_keys(rows, edges.settings, fingerprint)
    known = await cached_outcomes(sorted(set(keys.values())), edges.cache, edges.settings.retry_failed)
    for row in rows:
        if keys[row.id] in known:
            _take(row, known[keys[row.id]], edges, fingerprint, out)
    return [row for row in rows if keys[row.id] not in known]


async def _ask_each_text_once(rows: list[Pending], generator: GeminiGenerator, edges: Edges, fingerprint: str,
                              out: _Outcome) -> None:
    async def ask(leaders: list[Pending]) -> dict[str, Outcome]:
        await _ask(leaders, generator, edges, fingerprint, out)
        ids = {row.id for row in leaders}
        outcomes = {r.source_id: Outcome(themes=r.themes) for r in out.records if r.source_id in ids}
        return outcomes | {f.source_id: Outcome(failure=f) for f in out.failures if f.source_id in ids}

    copies = await ask_once_per_text(rows, _text_keys(rows, edges.settings, fingerprint), edges.texts, ask)
    for row, outcome in copies:
        _take(row, outcome, edges, fingerprint, out)


async def unsettled(rows: list[SourceRow], batch_id: int, edges: Edges) -> list[Pending]:
    """The rows of a batch that steps 1-4 leave for Gemini (nothing is written): what a batch job asks."""
    fingerprint = prompt_fingerprint()
    out = _Outcome(BatchResult(batch_id=batch_id, rows=len(rows)))
    pending = _not_done(rows, await edges.sink.stored([r.id for r in rows]), edges.settings, fingerprint, out)
    ask = await _from_cache(pending, edges, fingerprint, out) if pending else []
    return await _from_same_text(ask, edges, fingerprint, out) if ask else []


def _writes(out: _Outcome, stored: Stored, done_ids: list[str]) -> Writes:
    """The batch's mutations: upserts, skipping failures Spanner already holds as they are, and
    deletes of what they make stale (pure)."""
    failures = [f for f in out.failures if stored.failures.get(f.source_id) != (f.reason.value, f.error)]
    themed = {r.source_id for r in out.records}
    return Writes(
        themes=out.records,
        failures=failures,
        delete_themes=sorted({f.source_id for f in out.failures} & stored.themes.keys()),
        delete_failures=sorted((themed | set(done_ids)) & stored.failures.keys()),
    )


async def settle_batch(rows: list[SourceRow], batch_id: int, edges: Edges,
                       generator: GeminiGenerator | None) -> BatchResult:
    """Settle every row of a batch; the result carries counters and the batch's failures only."""
    started = time.monotonic()
    out = _Outcome(BatchResult(batch_id=batch_id, rows=len(rows)))
    fingerprint = prompt_fingerprint()
    try:
        stored = await edges.sink.stored([r.id for r in rows])
    except Exception as exc:  # noqa: BLE001 - without the record of what is done, nothing is sent
        out.result.error = f"{type(exc).__name__}: {exc}"
        edges.stop.trip(f"Spanner could not be read ({exc})", "when Spanner answers again")
        return out.result
    pending = _not_done(rows, stored, edges.settings, fingerprint, out)
    pending_ids = {p.id for p in pending}
    done_ids = [r.id for r in rows if r.id not in pending_ids and r.id in stored.themes]
    ask = await _from_cache(pending, edges, fingerprint, out) if pending else []
    ask = await _from_same_text(ask, edges, fingerprint, out) if ask else []
    if ask and generator is not None:
        await _ask_each_text_once(ask, generator, edges, fingerprint, out)
        out.result.usage = generator.usage
        out.result.rejected_items = dict(generator.rejected_items)
    elif ask:
        for row in ask:
            out.fail(row.id, Reason.NOT_SENT, "not answered yet: a rerun sends it to Gemini")
    try:
        writes = _writes(out, stored, done_ids)
        await edges.sink.write(writes, edges.flow_run_id)
        out.result.written = len(writes.themes)
    except Exception as exc:  # noqa: BLE001 - whatever Spanner raised, the answers are safe in the cache
        out.result.write_error = f"{type(exc).__name__}: {exc}"
        out.result.not_written = len(out.records)
        edges.stop.trip(f"Spanner refused this run's writes ({exc})", "when Spanner answers again")
    out.result.failures = out.failures
    out.result.seconds = round(time.monotonic() - started, 3)
    return out.result
