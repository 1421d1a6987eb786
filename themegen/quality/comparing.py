"""`themegen compare`: two configurations (model and/or prompt) on the same seeded sample of the
source's rows, judged pairwise in both orders, a chunk of rows at a time until the preference is clear
(compare.py's sequential decision) or the rows run out; then each side's themes on the compared rows
are rated with the quality rubric (judging.py), so the answer comes with the reasons. Each side's
answers and verdicts go to the row cache (a later run with that configuration takes them); the sink is
not touched."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from pydantic import BaseModel, Field

from themegen.cache import CachedAnswer, CacheReadError, RowCache, open_cache
from themegen.config.settings import Settings
from themegen.domain.generation import Generation
from themegen.domain.models import RowFailure
from themegen.domain.prompt import InvalidAnswer, InvalidInput, input_hash, parse_answer, prepare_text, prompt_of
from themegen.pricing.cost import cost_usd
from themegen.quality import judge_model_for
from themegen.quality.compare import Decision, PairRow, combine, decide, look_z, looks_for
from themegen.quality.compare_record import save_comparison
from themegen.quality.comparison_report import advice
from themegen.quality.judging import judge_rows, rates_of
from themegen.quality.models import Rate
from themegen.quality.rubric import InvalidVerdict, JudgeRow
from themegen.quality.sample import batch_order, sample
from themegen.source import open_source


class Side(BaseModel):
    model: str
    prompt: str = Field(description="where its instructions come from")
    fingerprint: str
    rows_answered: int = 0
    rows_failed: int = 0
    calls: int = Field(0, description="requests this comparison sent (cached answers cost none)")
    input_tokens: int = Field(0, description="of every answered row, cached ones included (their recorded tokens)")
    output_tokens: int = 0
    cost_per_1000_rows: float | None = None
    tokens_per_1000_rows: int = 0
    minutes_per_1000_rows: float = Field(0.0, description="at the configured RPM/TPM quota")
    rates: list[Rate] = Field(default_factory=list, description="the quality rubric's rates on the compared rows")


class Comparison(BaseModel):
    a: Side
    b: Side
    judge_model: str
    environment: str
    rows_compared: int = 0
    looks: int = 0
    decision: Decision | None = None
    stopped_early: bool = False
    judge_errors: dict[str, int] = Field(default_factory=dict)
    judge_calls: int = 0
    judge_cost_usd: float | None = None
    wall_seconds: float = 0.0
    advice: str = ""


def side_settings(settings: Settings, **overrides: object) -> Settings:
    """`settings` with one side's overrides (None = as configured). A prompt file named for a side wins
    over configured prompt_instructions, which would otherwise win over any file."""
    if overrides.get("prompt_file") and not overrides.get("prompt_instructions"):
        settings = settings.model_copy(update={"prompt_instructions": None})
    return settings.with_overrides(**overrides)


class _Side:
    """One configuration's generator, generation (cache keys) and what its rows cost."""

    def __init__(self, settings: Settings) -> None:
        from themegen.llm.gemini.generator import GeminiGenerator  # the adapter, as open_judge does

        self.settings, self.generation = settings, Generation.of(settings)
        self.generator = GeminiGenerator(settings)
        prompt = prompt_of(settings)
        self.report = Side(model=settings.model, prompt=prompt.origin, fingerprint=prompt.fingerprint)

    async def themes(self, rows: list[tuple[str, str]], cache: RowCache) -> dict[str, tuple[str, ...]]:
        keys = {row_id: self.generation.row_key(row_id, input_hash(text)) for row_id, text in rows}
        try:
            cached = await cache.get_many(list(keys.values()))
        except CacheReadError:
            cached = {}
        found: dict[str, tuple[str, ...]] = {}
        for row_id, _ in rows:
            hit = cached.get(keys[row_id])
            if hit is not None and hit.failure_reason is None:
                try:
                    found[row_id] = tuple(parse_answer(hit.raw_text))
                    self._count(hit.input_tokens, hit.output_tokens)
                except InvalidAnswer:
                    pass
        ask = [row for row in rows if row[0] not in found]
        per = self.settings.rows_per_request
        packs = [ask[i:i + per] for i in range(0, len(ask), per)]
        for answers in await asyncio.gather(*(self._answer(pack) for pack in packs)):
            for row_id, answer in answers.items():
                if isinstance(answer, RowFailure) or answer is None:
                    self.report.rows_failed += 1
                    continue
                found[row_id] = tuple(answer.themes)
                self._count(answer.input_tokens, answer.output_tokens)
                await cache.put(keys[row_id], CachedAnswer(raw_text=answer.raw_text, input_tokens=answer.input_tokens,
                                                           output_tokens=answer.output_tokens))
        return found

    async def _answer(self, pack: list[tuple[str, str]]) -> dict:
        answers = await self.generator.answer_pack(pack, 0) if len(pack) > 1 else {pack[0][0]: None}
        for row_id, text in pack:
            if answers[row_id] is None:  # lost from a pack, or alone: asked alone (with its repair retry)
                answers[row_id] = await self.generator.answer(row_id, text, 0)
        return answers

    def _count(self, input_tokens: int, output_tokens: int) -> None:
        self.report.rows_answered += 1
        self.report.input_tokens += input_tokens
        self.report.output_tokens += output_tokens

    def finish(self) -> Side:
        side, s = self.report, self.settings
        side.calls = self.generator.usage.calls
        rows = max(side.rows_answered, 1)
        per_1000 = 1000 / rows
        cost = cost_usd(s.model, side.input_tokens, side.output_tokens, backend=s.gemini.backend)
        side.cost_per_1000_rows = None if cost is None else round(cost * per_1000, 6)
        side.tokens_per_1000_rows = round((side.input_tokens + side.output_tokens) * per_1000)
        requests = 1000 / s.rows_per_request
        minutes = [requests / s.rpm] + ([side.input_tokens * per_1000 / s.tpm] if s.tpm else [])
        side.minutes_per_1000_rows = round(max(minutes), 3)
        return side


async def _sample_rows(settings: Settings, rows: int, seed: int) -> list[tuple[str, str]]:
    """`rows` sendable rows of the source, the same for the same seed and source."""
    source = open_source(settings)
    try:
        plan = await asyncio.to_thread(source.plan, f"compare_{uuid.uuid4().hex[:12]}", settings.rows_per_batch)
        by_id, pool = {b.batch_id: b for b in plan.batches}, []
        for batch_id in batch_order(list(by_id), seed):
            if len(pool) >= rows:
                break
            for row in await asyncio.to_thread(source.read_batch, by_id[batch_id]):
                try:
                    pool.append((row.id, prepare_text(row.text, settings.max_input_chars)))
                except InvalidInput:
                    continue
        return sample(pool, rows, seed, lambda row: row[0])
    finally:
        source.close()


async def _rate_sides(settings: Settings, judge_model: str, sides: tuple[_Side, _Side], rows: list[tuple[str, str]],
                      themes: tuple[dict, dict], cache: RowCache, errors: Counter) -> tuple[int, float | None]:
    """Each side's rubric rates on the compared rows (verdicts cached as a run's are): the judge's
    requests and cost."""
    from themegen.llm.gemini.judge import GeminiJudge  # the adapter

    judge = GeminiJudge(settings, judge_model)
    for side, found in zip(sides, themes):
        asked = [JudgeRow(i, t, found[i], input_hash(t)) for i, t in rows if i in found]
        judged = await judge_rows(asked, judge, cache, judge_model, settings.judge_rows_per_request)
        side.report.rates = rates_of([judged.verdicts[row.id] for row in asked if row.id in judged.verdicts])
        errors.update({f"rubric: {kind}": n for kind, n in judged.errors.items()})
    usage = judge.usage
    return usage.calls, cost_usd(judge_model, usage.input_tokens, usage.output_tokens, backend=settings.gemini.backend)


async def compare(settings_a: Settings, settings_b: Settings, max_rows: int = 1000, look_rows: int = 100,
                  seed: int = 0) -> Comparison:
    from themegen.llm.gemini.judge import GeminiPairJudge  # the adapter

    started = time.monotonic()
    sides = _Side(settings_a), _Side(settings_b)
    judge_model = judge_model_for(settings_b if settings_b.model != settings_a.model else settings_a)
    judge = GeminiPairJudge(settings_a, judge_model)
    rows, cache = await _sample_rows(settings_a, max_rows, seed), await open_cache(settings_a)
    looks = looks_for(len(rows) or 1, look_rows)
    z, outcome, errors = look_z(looks), Counter(), Counter()
    result = Comparison(a=sides[0].report, b=sides[1].report, judge_model=judge_model,
                        environment=settings_a.stack or "GCP")
    per = settings_a.judge_rows_per_request
    compared: list[tuple[str, str]] = []
    kept: tuple[dict, dict] = ({}, {})
    for start in range(0, len(rows), look_rows):
        chunk = rows[start:start + look_rows]
        themes_a, themes_b = await asyncio.gather(*(side.themes(chunk, cache) for side in sides))
        pairs = [(i, t) for i, t in chunk if i in themes_a and i in themes_b]
        compared += pairs
        kept[0].update(themes_a)
        kept[1].update(themes_b)
        a_first = [PairRow(i, t, themes_a[i], themes_b[i]) for i, t in pairs]
        b_first = [PairRow(i, t, themes_b[i], themes_a[i]) for i, t in pairs]
        packs = [rows_[k:k + per] for rows_ in (a_first, b_first) for k in range(0, len(rows_), per)]
        answers = await asyncio.gather(*(judge.prefer(pack) for pack in packs))
        half = len(answers) // 2
        first = {k: v for answer in answers[:half] for k, v in answer.items()}
        second = {k: v for answer in answers[half:] for k, v in answer.items()}
        for row_id, _ in pairs:
            x, y = first.get(row_id), second.get(row_id)
            if isinstance(x, InvalidVerdict) or isinstance(y, InvalidVerdict) or x is None or y is None:
                errors[str(x if isinstance(x, InvalidVerdict) else y).split(":")[0][:80]] += 1
                continue
            outcome[combine(x, y)] += 1
        result.rows_compared, result.looks = start + len(chunk), result.looks + 1
        result.decision = decide(outcome["a"], outcome["b"], outcome["tie"], z)
        if result.decision.winner:
            result.stopped_early = result.rows_compared < len(rows)
            break
    rubric_calls, rubric_cost = await _rate_sides(settings_a, judge_model, sides, compared, kept, cache, errors)
    result.a, result.b = sides[0].finish(), sides[1].finish()
    result.judge_errors, result.judge_calls = dict(errors), judge.usage.calls + rubric_calls
    pair_cost = cost_usd(judge_model, judge.usage.input_tokens, judge.usage.output_tokens,
                         backend=settings_a.gemini.backend)
    result.judge_cost_usd = None if pair_cost is None or rubric_cost is None else round(pair_cost + rubric_cost, 6)
    result.wall_seconds = round(time.monotonic() - started, 2)
    result.advice = advice(result)
    await save_comparison(settings_a, settings_b, result)
    return result
