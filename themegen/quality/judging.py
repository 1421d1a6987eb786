"""Judge a seeded sample of a run's rows: read a few batches in a seeded order, keep the rows whose
themes in the sink are this run's (current model, prompt and text), sample, take judgements of the
same themes from the row cache, ask the judge for the rest (paid once: each verdict is cached under
row id + themes + text + judge model + rubric version), store the judgements in the sink, and
summarise them as rates with 95% intervals and the worst rows. Ports only; never raises for the
judge's or the sink's errors (they are reported, the themes stay)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from themegen.cache import CachedAnswer, CacheReadError, RowCache
from themegen.config.settings import LANGUAGE, Settings
from themegen.domain.generation import Generation
from themegen.domain.models import BatchPlan, JudgementRecord
from themegen.domain.prompt import InvalidInput, input_hash, prepare_text
from themegen.pricing.cost import cost_usd
from themegen.quality import Judge, judge_model_for
from themegen.quality.models import QualityReport, Rate, WorstRow
from themegen.quality.rubric import CHECKS, RUBRIC_VERSION, InvalidVerdict, JudgeRow, Verdict
from themegen.quality.sample import batch_order, sample
from themegen.quality.stats import check_counts, wilson
from themegen.sink import Sink
from themegen.source import Source

WORST_SHOWN = 5
_JAPANESE = range(0x3040, 0x9FFF + 1)


def text_language(text: str) -> str:
    """'ja' when Japanese script carries the text (a kana or kanji says about as much as 3 letters), else 'other'."""
    japanese = sum(ord(c) in _JAPANESE for c in text)
    letters = sum(c.isascii() and c.isalpha() for c in text)
    return "ja" if japanese and 3 * japanese >= letters else "other"


async def stratum_of(settings: Settings, source: Source, pool: list[JudgeRow]) -> Callable[[JudgeRow], str] | None:
    """What the sample is stratified by: the text's language, a source column's value (read for the
    pool's rows; a NULL is a stratum of its own), or nothing."""
    if settings.quality_stratify == LANGUAGE:
        return lambda row: text_language(row.text)
    if (column := settings.stratify_column) is None:
        return None
    values = await asyncio.to_thread(source.column_values, column, [row.id for row in pool]) if pool else {}
    return lambda row: "(null)" if values.get(row.id) is None else values[row.id]


def verdict_key(row: JudgeRow, judge_model: str) -> str:
    digest = hashlib.sha256(json.dumps([row.id, list(row.themes), row.input_hash]).encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in judge_model)
    # Three folders after the kind, as a generation's: a grouped cache (themegen/cache/segments) writes
    # a judge model's verdicts for one rubric in a few segments, not one object per judged row.
    return f"judgements/{safe}/{RUBRIC_VERSION}/rows/{digest[:2]}/{digest}.json"


@dataclass
class Judged:
    verdicts: dict[str, Verdict]
    from_cache: int
    errors: Counter[str]


async def candidates(settings: Settings, plan: BatchPlan, source: Source, sink: Sink) -> list[JudgeRow]:
    """Rows of a few batches (seeded order) holding this run's themes: enough to sample from."""
    generation, wanted = Generation.of(settings), settings.quality_sample_rows
    # Stratifying needs a pool larger than the sample to take each stratum's share from.
    pool_size = wanted * (2 if settings.quality_stratify else 1)
    by_id = {b.batch_id: b for b in plan.batches}
    pool: list[JudgeRow] = []
    for batch_id in batch_order(list(by_id), settings.quality_seed):
        if len(pool) >= pool_size:
            break
        texts = {}
        for row in await asyncio.to_thread(source.read_batch, by_id[batch_id]):
            try:
                texts[row.id] = prepare_text(row.text, settings.max_input_chars)
            except InvalidInput:
                continue  # a row without usable text has no themes to judge
        stored = await sink.themes_of(sorted(texts))
        for row_id, (themes, stamp) in stored.items():
            digest = input_hash(texts[row_id])
            if tuple(stamp) == generation.stamp(digest):
                pool.append(JudgeRow(row_id, texts[row_id], tuple(themes), digest))
    return pool


async def judge_rows(rows: list[JudgeRow], judge: Judge, cache: RowCache, judge_model: str,
                     rows_per_request: int) -> Judged:
    keys = {row.id: verdict_key(row, judge_model) for row in rows}
    try:
        cached = await cache.get_many(list(keys.values()))
    except CacheReadError:
        cached = {}  # judged again: a few hundred rows, not worth failing the report
    verdicts: dict[str, Verdict] = {}
    for row in rows:
        if (hit := cached.get(keys[row.id])) is not None:
            verdicts[row.id] = Verdict.from_json(hit.raw_text)
    from_cache, errors = len(verdicts), Counter()
    # Rows with the same text and themes get the same verdict: asked once, as their themes were generated once.
    alike: dict[tuple[str, tuple[str, ...]], list[JudgeRow]] = {}
    for row in rows:
        if row.id not in verdicts:
            alike.setdefault((row.input_hash, row.themes), []).append(row)
    group = {members[0].id: members for members in alike.values()}
    to_ask = [members[0] for members in alike.values()]
    packs = [to_ask[i:i + rows_per_request] for i in range(0, len(to_ask), rows_per_request)]
    for answers in await asyncio.gather(*(judge.judge(pack) for pack in packs)):
        for row_id, answer in answers.items():
            if isinstance(answer, InvalidVerdict):
                errors[str(answer).split(":")[0][:80]] += len(group[row_id])
                continue
            for member in group[row_id]:
                verdicts[member.id] = answer
                try:
                    await cache.put(keys[member.id], CachedAnswer(raw_text=answer.to_json()))
                except Exception as exc:  # noqa: BLE001 - a cache write failure costs a re-judgement, no more
                    errors[f"cache write: {type(exc).__name__}"] += 1
    return Judged(verdicts, from_cache, errors)


def problems(row: JudgeRow, verdict: Verdict) -> list[str]:
    found = [f"theme {i} {theme!r}: not {check}" for i, (theme, flags) in enumerate(zip(row.themes, verdict.themes), 1)
             for check, passed in zip(CHECKS, flags) if not passed]
    return found + ([] if verdict.cover else ["the themes miss main points of the text (cover)"])


def rates_of(verdicts: list[Verdict]) -> list[Rate]:
    """Each check's pass rate with its 95% interval."""
    return [Rate(check=check, passed=passed, judged=n, low=wilson(passed, n)[0], high=wilson(passed, n)[1])
            for check, (passed, n) in check_counts(verdicts).items()]


def summarise(report: QualityReport, rows: list[JudgeRow], judged: Judged) -> QualityReport:
    verdicts = [judged.verdicts[row.id] for row in rows if row.id in judged.verdicts]
    report.rows_judged, report.rows_from_cache = len(verdicts), judged.from_cache
    report.rows_not_judged, report.errors = len(rows) - len(verdicts), dict(judged.errors)
    report.rates = rates_of(verdicts)
    worst = sorted((row for row in rows if row.id in judged.verdicts and judged.verdicts[row.id].failed_checks),
                   key=lambda row: (-judged.verdicts[row.id].failed_checks, row.id))[:WORST_SHOWN]
    report.worst = [WorstRow(id=row.id, text=row.text[:300], themes=list(row.themes),
                             problems=problems(row, judged.verdicts[row.id])) for row in worst]
    return report


def records(rows: list[JudgeRow], judged: Judged, generation: Generation, judge_model: str) -> list[JudgementRecord]:
    return [JudgementRecord(source_id=row.id, judge_model=judge_model, rubric_version=RUBRIC_VERSION,
                            themes=list(row.themes), verdicts=json.loads(judged.verdicts[row.id].to_json())["themes"],
                            cover=judged.verdicts[row.id].cover, model=generation.model,
                            prompt_fingerprint=generation.fingerprint, input_hash=row.input_hash)
            for row in rows if row.id in judged.verdicts]


async def judge_run(settings: Settings, plan: BatchPlan, source: Source, sink: Sink, cache: RowCache, judge: Judge,
                    flow_run_id: str | None) -> QualityReport:
    judge_model = judge_model_for(settings)
    report = QualityReport(judge_model=judge_model, rubric_version=RUBRIC_VERSION, seed=settings.quality_seed,
                           stratify=settings.quality_stratify, sample_size=settings.quality_sample_rows)
    try:
        pool = await candidates(settings, plan, source, sink)
        stratum = await stratum_of(settings, source, pool)
        rows = sample(pool, settings.quality_sample_rows, settings.quality_seed, lambda row: row.id, stratum)
        if stratum is not None:
            report.strata = dict(Counter(stratum(row) for row in rows))
        judged = await judge_rows(rows, judge, cache, judge_model, settings.judge_rows_per_request)
    except Exception as exc:  # noqa: BLE001 - judging never fails the run: the themes are written already
        report.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        return report
    finally:
        usage = judge.usage
        report.judge_calls, report.input_tokens, report.output_tokens = usage.calls, usage.input_tokens, usage.output_tokens
        report.cost_usd = cost_usd(judge_model, usage.input_tokens, usage.output_tokens, backend=settings.gemini.backend)
    summarise(report, rows, judged)
    try:
        await sink.write_judgements(records(rows, judged, Generation.of(settings), judge_model), flow_run_id)
    except Exception as exc:  # noqa: BLE001 - e.g. the judgements table is missing: the report says so
        report.sink_error = f"{type(exc).__name__}: {str(exc)[:300]} (apply `themegen ddl` for the judgements table)"
    return report
