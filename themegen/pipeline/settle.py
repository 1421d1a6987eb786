"""One batch's rows, settled against the run's record of what is done.

1. rows whose text cannot be sent fail at once (INPUT);
2. the sink says which rows already hold themes for their current input, model and prompt: those
   are done and not touched (one bulk read per batch);
3. the row cache answers the rest where it can: answers paid for earlier, and permanent failures
   (declined or invalid after the repair retry), which are not paid for again unless retry_failed;
4. identical texts are paid once (same_text.py): a row takes the answer its text already has in
   the row cache, or that another batch of the run is asking for, and of the rest one row per
   distinct text is asked;
5. the generator answers what is left (rows_per_request rows per request; a row whose item is
   missing or invalid in a packed answer is asked again alone), each answer cached the moment it
   validates;
6. the batch writes its own outcome to the sink before it ends: themes, failures, and deletes of
   rows they make stale (an old failure of a row that now has themes, old themes of a row that
   now fails). If the sink refuses, the answers stay in the row cache and the run stops spending;
   once it took them, every row's outcome goes to the source's done record (record.py).

Without a generator (the final upsert) step 5 is skipped: what the cache holds is written.
"""

from __future__ import annotations

import asyncio
import time

from themegen.cache import CachedAnswer, CacheReadError
from themegen.domain.generation import Generation, Pending
from themegen.domain.models import PERMANENT, BatchResult, Reason, RowFailure, SourceRow, ThemeRecord
from themegen.domain.prompt import InvalidInput, input_hash, prepare_text
from themegen.llm import Answer, Generator
from themegen.pipeline import record
from themegen.pipeline.edges import Edges
from themegen.pipeline.same_text import Outcome, by_text, read_entry
from themegen.sink import Stored, Writes


class BatchOutcome:
    """A batch's records and failures while it runs (rows of one batch, never of the run)."""

    def __init__(self, result: BatchResult, generation: Generation) -> None:
        self.result = result
        self.generation = generation
        self.records: list[ThemeRecord] = []
        self.failures: list[RowFailure] = []

    def fail(self, row_id: str, reason: Reason, error: str, attempts: int = 0) -> None:
        self.failures.append(RowFailure(source_id=row_id, batch_id=self.result.batch_id, reason=reason,
                                        error=error[:1000], attempts=attempts))

    def themed(self, row: Pending, themes: list[str]) -> None:
        self.records.append(self.generation.record(row.id, row.digest, themes))

    def take(self, row: Pending, outcome: Outcome, same_text: bool) -> None:
        """Settle a row with an outcome found for it (its own row cache entry, or an identical text's):
        themes, or a failure its own request would have met too."""
        if outcome.themes is None:
            self.fail(row.id, outcome.failure.reason, outcome.failure.error, outcome.failure.attempts)
            return
        self.themed(row, outcome.themes)
        if same_text:
            self.result.from_same_text += 1
        else:
            self.result.from_cache += 1


def _not_done(rows: list[SourceRow], stored: Stored, max_input_chars: int, out: BatchOutcome) -> list[Pending]:
    """Rows that still need work (pure apart from recording INPUT failures and done counts)."""
    pending, generation = [], out.generation
    for row in rows:
        try:
            text = prepare_text(row.text, max_input_chars)
        except InvalidInput as exc:
            out.fail(row.id, Reason.INPUT, str(exc))
            continue
        digest = input_hash(text)
        if stored.themes.get(row.id) == generation.stamp(digest):
            out.result.done_before += 1
            continue
        pending.append(Pending(row.id, text, digest, generation.row_key(row.id, digest)))
    return pending


async def _from_cache(pending: list[Pending], edges: Edges, out: BatchOutcome) -> list[Pending]:
    """Settle what the cache holds under the rows' own keys; return the rows it does not."""
    try:
        hits = await edges.cache.get_many([p.key for p in pending])
    except CacheReadError as exc:
        for row in pending:
            out.fail(row.id, Reason.CACHE_ERROR, f"{exc}; not sent to Gemini (it may have been paid for already)")
        return []
    ask = []
    for row in pending:
        found = read_entry(hits[row.key], edges.settings.retry_failed) if row.key in hits else None
        if found is None:
            ask.append(row)
        else:
            out.take(row, found, same_text=False)
    return ask


async def _from_same_text(rows: list[Pending], edges: Edges, out: BatchOutcome) -> list[Pending]:
    """Settle rows whose text the row cache has answered (for another row); return the rest. An
    unreadable cache settles none: the rows are asked one row per text, never all of them."""
    keys = {r.id: out.generation.text_key(r.digest) for r in rows}
    try:
        hits = await edges.cache.get_many(sorted(set(keys.values())))
    except CacheReadError:
        hits = {}
    known = {key: found for key, hit in hits.items() if (found := read_entry(hit, edges.settings.retry_failed))}
    for row in rows:
        if keys[row.id] in known:
            _copy(row, known[keys[row.id]], out)
    return [row for row in rows if keys[row.id] not in known]


def _copy(row: Pending, outcome: Outcome, out: BatchOutcome) -> None:
    """A row takes an identical text's outcome (only answers and permanent failures count as requests saved)."""
    out.take(row, outcome, same_text=True)
    out.result.shared += outcome.themes is not None or outcome.failure.reason in PERMANENT


async def cache_answer(row: Pending, answer: Answer | RowFailure, edges: Edges) -> None:
    """Keep an answer (or a permanent failure) under the row's key and its text's, the moment it
    validates: other rows with the text take it. Online answers and a batch job's alike."""
    if isinstance(answer, RowFailure):
        if answer.reason not in PERMANENT:
            return
        entry = CachedAnswer(failure_reason=answer.reason, failure=answer.error)
    else:
        entry = CachedAnswer(raw_text=answer.raw_text, input_tokens=answer.input_tokens,
                             output_tokens=answer.output_tokens)
    for key in (row.key, edges.generation.text_key(row.digest)):
        await edges.cache.put(key, entry)


async def _keep(row: Pending, answer: Answer | RowFailure, edges: Edges, out: BatchOutcome) -> Outcome:
    await cache_answer(row, answer, edges)
    if isinstance(answer, RowFailure):
        out.failures.append(answer)
        return Outcome(failure=answer)
    out.themed(row, answer.themes)
    out.result.answered += 1
    return Outcome(themes=answer.themes)


async def _ask(rows: list[Pending], generator: Generator, edges: Edges, out: BatchOutcome) -> dict[str, Outcome]:
    """Send the rows (rows_per_request to a request), settle each answer; row id -> outcome."""
    batch_id, outcomes = out.result.batch_id, {}

    async def alone(row: Pending) -> None:
        outcomes[row.id] = await _keep(row, await generator.answer(row.id, row.text, batch_id), edges, out)

    async def one_of(row: Pending, answer: Answer | RowFailure) -> None:
        outcomes[row.id] = await _keep(row, answer, edges, out)

    async def packed(pack: list[Pending]) -> None:
        if len(pack) == 1:  # a lone leftover row: the single-row schema is cheaper and has the repair retry
            return await alone(pack[0])
        answers = await generator.answer_pack([(r.id, r.text) for r in pack], batch_id)
        await asyncio.gather(*(alone(r) if answers[r.id] is None else one_of(r, answers[r.id]) for r in pack))

    k = edges.settings.rows_per_request
    await asyncio.gather(*(packed(rows[i:i + k]) for i in range(0, len(rows), k)))
    return outcomes


async def _ask_each_text_once(rows: list[Pending], generator: Generator, edges: Edges, out: BatchOutcome) -> None:
    """Ask one row per distinct text; the other rows copy its outcome. A text another batch of the
    run is asking is awaited instead; should that batch get no answer (it failed whole), this one
    asks it itself. Each answer is cached under its text's key as it comes: a batch arriving later
    finds it there."""
    groups = by_text(rows, {r.id: out.generation.text_key(r.digest) for r in rows})
    claims = {key: edges.texts.claim(key) for key in groups}
    mine = [key for key, other in claims.items() if other is None]
    answered: dict[str, Outcome] = {}
    try:
        answered = await _ask([groups[key][0] for key in mine], generator, edges, out)
    finally:
        for key in mine:
            edges.texts.settle(key, answered.get(groups[key][0].id))
    for key in mine:
        if (outcome := answered.get(groups[key][0].id)) is not None:
            for row in groups[key][1:]:
                _copy(row, outcome, out)
    awaited = {key: await other for key, other in claims.items() if other is not None}
    unanswered = [groups[key][0] for key, outcome in awaited.items() if outcome is None]
    answered = await _ask(unanswered, generator, edges, out) if unanswered else {}
    for key, outcome in awaited.items():
        group = groups[key]
        if outcome is not None:
            for row in group:
                _copy(row, outcome, out)
        elif (own := answered.get(group[0].id)) is not None:
            for row in group[1:]:
                _copy(row, own, out)


async def unsettled(rows: list[SourceRow], batch_id: int, edges: Edges) -> list[Pending]:
    """The rows of a batch that steps 1-4 leave for the generator (nothing is written): what a batch job asks."""
    out = BatchOutcome(BatchResult(batch_id=batch_id, rows=len(rows)), edges.generation)
    pending = _not_done(rows, await edges.sink.stored([r.id for r in rows]), edges.settings.max_input_chars, out)
    ask = await _from_cache(pending, edges, out) if pending else []
    return await _from_same_text(ask, edges, out) if ask else []


def _writes(out: BatchOutcome, stored: Stored, done_ids: list[str]) -> Writes:
    """The batch's mutations: upserts, skipping failures the sink already holds as they are, and
    deletes of what they make stale (pure)."""
    failures = [f for f in out.failures if stored.failures.get(f.source_id) != (f.reason.value, f.error)]
    themed = {r.source_id for r in out.records}
    return Writes(
        themes=out.records,
        failures=failures,
        delete_themes=sorted({f.source_id for f in out.failures} & stored.themes.keys()),
        delete_failures=sorted((themed | set(done_ids)) & stored.failures.keys()),
    )


async def settle_batch(rows: list[SourceRow], batch_id: int, edges: Edges, generator: Generator | None) -> BatchResult:
    """Settle every row of a batch; the result carries counters and the batch's failures only."""
    started = time.monotonic()
    out = BatchOutcome(BatchResult(batch_id=batch_id, rows=len(rows)), edges.generation)
    try:
        stored = await edges.sink.stored([r.id for r in rows])
    except Exception as exc:  # noqa: BLE001 - without the record of what is done, nothing is sent
        out.result.error = f"{type(exc).__name__}: {exc}"
        edges.stop.trip(f"{edges.sink.description} could not be read ({exc})", "when it answers again")
        return out.result
    pending = _not_done(rows, stored, edges.settings.max_input_chars, out)
    pending_ids = {p.id for p in pending}
    done_ids = [r.id for r in rows if r.id not in pending_ids and r.id in stored.themes]
    ask = await _from_cache(pending, edges, out) if pending else []
    ask = await _from_same_text(ask, edges, out) if ask else []
    if ask and generator is not None:
        await _ask_each_text_once(ask, generator, edges, out)
        out.result.usage = generator.usage
        out.result.rejected_items = dict(generator.rejected_items)
    elif ask:
        for row in ask:
            out.fail(row.id, Reason.NOT_SENT, "not answered yet: a rerun sends it to Gemini")
    try:
        writes = _writes(out, stored, done_ids)
        await edges.sink.write(writes, edges.flow_run_id)
        out.result.written = len(writes.themes)
        done_before = {i: stored.themes[i][3] for i in done_ids}
        await record.keep(edges.source, record.entries(rows, out.records, done_before, out.failures), batch_id)
    except Exception as exc:  # noqa: BLE001 - whatever the sink raised, the answers are safe in the cache
        out.result.write_error = f"{type(exc).__name__}: {exc}"
        out.result.not_written = len(out.records)
        edges.stop.trip(f"{edges.sink.description} refused this run's writes ({exc})", "when it answers again")
    out.result.failures = out.failures
    out.result.seconds = round(time.monotonic() - started, 3)
    return out.result
