"""Before a run: how many rows, tokens, dollars and minutes it would take (`themegen estimate`).

The rows are those the run would send (pipeline/to_send.py: the run's batches settled against the
sink and the row cache, identical texts once); input tokens are counted on a sample of them with
Gemini's countTokens (not billed) and scaled to all; output tokens are a fixed per-row figure derived
from the response schema (below). Nothing is generated.
"""

from __future__ import annotations

import asyncio
import math
import re
from statistics import fmean
from typing import Literal

import aiohttp
import httpx
from google.auth.exceptions import GoogleAuthError
from google.genai import errors, types
from pydantic import BaseModel, Field

from themegen.pricing.cost import base_model, cost_usd, priced_models
from themegen.pricing.estimate_days import PackingDays, day_lines, days_per_packing, packing_for_day
from themegen.llm.gemini.client import shared_client, thinking_budget_for
from themegen.domain.prompt import prompt_of, user_content
from themegen.config.settings import Settings
from themegen.pipeline.to_send import rows_to_send
from themegen.tiers import AUTO
from themegen.tiers.choose import Choice, Workload, choose_tier
from themegen.tiers.compare import TierEstimate, compare_tiers, tier_lines

# Output tokens per answered row. The answer's shape is fixed by the response schema:
# {"themes": [six strings]}. Its JSON frame ('{"themes": [', ']}', six pairs of quotes and five
# ', ') is 36 characters, about 9 tokens; the prompt asks for themes of 1-4 words, which models
# answer with two or three on average (about 4 tokens a theme): 9 + 6 * 4 = 33, plus a little for
# Japanese, which takes more tokens per word. The local simulator answers key phrases of that
# length (README, "Benchmarks": tokens per row). For a real model, calibrate after a trial run
# (`themegen run --rows 100`): pass its output_tokens / llm_calls as `output_tokens_per_row`.
OUTPUT_TOKENS_PER_ROW = 35.0

TokenMethod = Literal["count_tokens", "approximation"]

# countTokens requests in flight at once: quick for a sample of hundreds, gentle on its quota.
COUNT_CONCURRENCY = 16

# Why countTokens may fail (no permission, unknown model, quota, network): the estimate then
# falls back to the approximation instead of failing.
_COUNT_ERRORS = (errors.APIError, aiohttp.ClientError, httpx.HTTPError, GoogleAuthError, TimeoutError, ValueError)

# Kana, CJK ideographs (incl. extension A and compatibility), Hangul and full-width forms: real
# tokenizers spend about one token per such character. The same rule as the local simulator's,
# kept here because pipeline code never imports local_stack.
_WIDE_CHAR = re.compile(
    "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)


def approx_tokens(text: str) -> int:
    """About 1 token per 4 Latin characters and 1 per CJK character; never less than 1 (pure)."""
    wide = len(_WIDE_CHAR.findall(text))
    return max(1, wide + math.ceil((len(text) - wide) / 4))


class ModelCost(BaseModel):
    model: str
    usd: float | None = Field(description="None: no published price for this model on this backend")


class Estimate(BaseModel):
    model: str
    backend: str
    stack: str | None = None
    rows: int = Field(description="rows of the run (filtered, distinct ids)")
    rows_to_send: int = Field(description="of those, rows not done, not in the row cache, whose text is not answered")
    texts_to_send: int = Field(description="distinct texts among them: identical texts are sent once")
    sample_rows: int = Field(description="texts whose input tokens were counted")
    token_method: TokenMethod
    token_method_note: str
    input_tokens_per_row: float = Field(description="mean over the sample rows that would be sent")
    output_tokens_per_row: float
    calls: int = Field(description="LLM calls: texts to send / rows_per_request (no retries)")
    input_tokens: int
    output_tokens: int
    usd: float | None = Field(description="for the configured model; None when its price is unknown")
    costs: list[ModelCost]
    rpm: int
    tpm: int | None
    minutes: float = Field(description="lower bound at the quota: max(calls / rpm, input tokens / tpm)")
    expected_minutes: float = Field(0.0, description="on the configured tier: the slower of the quota and the "
                                    "requests in flight at the tier's latency (the tier table's time)")
    child_runs: int = Field(1, description="flow runs of at most run_timeout_s the job splits into")
    run_timeout_s: float = 3_600
    bq_bytes_processed: int = 0
    notes: list[str] = Field(default_factory=list)
    tier: str = Field("standard", description="the configured tier (THEMEGEN_TIER)")
    tiers: list[TierEstimate] = Field(default_factory=list, description="cost and expected time on every tier")
    deadline: str | None = None
    auto: Choice | None = Field(None, description="what tier=auto picks for the deadline")
    rpd: int | None = Field(None, description="requests per day of the quota (THEMEGEN_RPD)")
    tpd: int | None = Field(None, description="input tokens per day of the quota (THEMEGEN_TPD)")
    packings: list[PackingDays] = Field(default_factory=list, description="days the run needs at each rows per "
                                        "request (with rpd or tpd)")
    packing: int | None = Field(None, description="the rows per request the run will use (fits a day when one does)")


async def _count_with_api(settings: Settings, prompts: list[tuple[str, str]]) -> tuple[list[int], str]:
    # Counted: system instruction + user content, as generate_content sends them. Not counted: the
    # response schema; should Gemini bill it as prompt tokens, a trial run's input_tokens show it.
    models = shared_client(settings).aio.models
    instruction = prompt_of(settings).system_instruction()
    if settings.gemini.backend == "vertex":
        # Vertex AI's countTokens takes the system instruction, so each row is counted as sent.
        config, per_row_extra = types.CountTokensConfig(system_instruction=instruction), 0
        note = "countTokens API (system instruction counted with each row)"
    else:
        # The Gemini API's countTokens has no system instruction (google-genai raises ValueError):
        # count it once as plain content and add it to every row.
        config = None
        counted = await models.count_tokens(model=settings.model, contents=instruction)
        per_row_extra = counted.total_tokens or 0
        note = "countTokens API (system instruction counted once and added to each row)"
    limit = asyncio.Semaphore(COUNT_CONCURRENCY)

    async def one(row_id: str, text: str) -> int:
        async with limit:
            counted = await models.count_tokens(model=settings.model, contents=user_content([(row_id, text)]),
                                                config=config)
        return (counted.total_tokens or 0) + per_row_extra

    results = await asyncio.gather(*(one(i, t) for i, t in prompts), return_exceptions=True)
    if failure := next((r for r in results if isinstance(r, BaseException)), None):
        raise failure
    return list(results), note


async def count_input_tokens(settings: Settings, prompts: list[tuple[str, str]]
                             ) -> tuple[list[int], TokenMethod, str]:
    """Input tokens of each (row id, prepared text) as the run would send it, and how they were counted."""
    try:
        counts, note = await _count_with_api(settings, prompts)
        return counts, "count_tokens", note
    except _COUNT_ERRORS as exc:
        instruction = prompt_of(settings).system_instruction()
        counts = [approx_tokens(f"{instruction}\n{user_content([(i, t)])}") for i, t in prompts]
        reason = f"{type(exc).__name__}: {str(exc)[:160]}"
        note = f"approximation: 4 Latin chars or 1 CJK char per token (countTokens failed: {reason})"
        return counts, "approximation", note


async def estimate(settings: Settings, sample_rows: int = 200, *, rows_limit: int | None = None,
                   tpm: int | None = None, output_tokens_per_row: float = OUTPUT_TOKENS_PER_ROW) -> Estimate:
    """Rows, tokens, USD per priced model and minutes at the quota for a run with `settings`.

    rows_limit: as the flow's parameter (only the first N rows); the sample still covers the table.
    tpm: input tokens per minute of the quota, when known (default: settings.tpm).
    """
    tpm = tpm or settings.tpm
    if sample_rows < 1:
        raise ValueError("sample_rows must be at least 1")
    found = await rows_to_send(settings, rows_limit, sample_rows)
    rows, billed = found.rows, found.bytes_billed
    prompts = [(row.id, row.text) for row in found.sample]
    counts, method, method_note = await count_input_tokens(settings, prompts)

    sent = found.texts
    per_row_in = fmean(counts) if counts else 0.0
    input_tokens, output_tokens = round(sent * per_row_in), round(sent * output_tokens_per_row)
    calls = math.ceil(sent / settings.rows_per_request)
    backend = settings.gemini.backend
    priced = priced_models(backend)
    models = priced + ([] if base_model(settings.model) in priced else [settings.model])

    def thinking(model: str) -> int:  # billed as output; the whole budget, the most a model may spend
        return calls * (thinking_budget_for(model, settings.thinking_budget) or 0)

    costs = [ModelCost(model=m, usd=cost_usd(m, input_tokens, output_tokens + thinking(m), backend=backend))
             for m in models]
    usd = cost_usd(settings.model, input_tokens, output_tokens + thinking(settings.model), backend=backend)

    notes = ["not included: repair retries after invalid answers and retried failures (extra calls)",
             "rows already done, answered in the row cache or repeating a text are not counted: they cost nothing"]
    if settings.rows_per_request > 1:
        notes.append(f"tokens are counted one row per request; with {settings.rows_per_request} rows per "
                     "request the instructions are sent once per request, so input tokens are an upper bound")
    if settings.thinking_budget is None:
        notes.append("thinking is left to the model (THEMEGEN_THINKING_BUDGET unset): its tokens are billed as "
                     "output and not in this estimate")
    elif budget := thinking_budget_for(settings.model, settings.thinking_budget):
        notes.append(f"thinking: {budget} tokens per request billed as output are included (the whole budget; "
                     f"{settings.model} takes at least {thinking_budget_for(settings.model, 0)})")
    if usd is None:
        notes.append(f"no published price for {settings.model} on {backend} in themegen/pricing/cost.py")
    minutes = max(calls / settings.rpm, input_tokens / tpm if tpm else 0.0)
    work = Workload(calls=calls, seconds_at_quota=minutes * 60, rpm=settings.rpm, max_in_flight=settings.max_in_flight)
    tiers = compare_tiers(usd, work)
    auto = choose_tier(settings.deadline_s, work) if settings.deadline_s else None
    # The time shown is the configured tier's (auto's pick, or standard until a deadline picks one),
    # the same number as its line in the tier table.
    shown = auto.tier.name if auto else settings.tier if settings.tier != AUTO else "standard"
    packings, packing = [], None
    if settings.rpd or settings.tpd:
        # per_row_in was counted one row per request: its instructions go once per request when packed
        instructions = min(per_row_in, approx_tokens(prompt_of(settings).system_instruction()))
        packings = days_per_packing(sent, settings.rpd, settings.tpd, settings.rows_per_request, per_row_in, instructions)
        packing = packing_for_day(packings, settings.rows_per_request) if settings.pack_to_fit_day else settings.rows_per_request
    return Estimate(
        model=settings.model, backend=backend, stack=settings.stack, rows=rows, rows_to_send=found.rows_to_send,
        texts_to_send=found.texts, sample_rows=len(prompts), token_method=method, token_method_note=method_note,
        input_tokens_per_row=per_row_in, output_tokens_per_row=output_tokens_per_row, calls=calls,
        input_tokens=input_tokens, output_tokens=output_tokens, usd=usd, costs=costs, rpm=settings.rpm, tpm=tpm,
        minutes=minutes, expected_minutes=60 * next(t.expected_hours for t in tiers if t.tier == shown),
        child_runs=child_runs(minutes, settings.run_timeout_s), run_timeout_s=settings.run_timeout_s,
        bq_bytes_processed=billed, notes=notes, tier=shown, deadline=settings.deadline, tiers=tiers, auto=auto,
        rpd=settings.rpd, tpd=settings.tpd, packings=packings, packing=packing,
    )


# A child run is planned to take at most this share of its timeout: the quota-bound time is a lower
# bound (retries, start-up and the final upsert come on top).
RUN_TIME_SHARE = 0.8


def child_runs(minutes: float, run_timeout_s: float) -> int:
    """Flow runs, one after another at the full quota, that a job of `minutes` needs so each fits
    its timeout (pure). Running them side by side would not help: they share one quota."""
    return max(1, math.ceil(minutes * 60 / (RUN_TIME_SHARE * run_timeout_s)))


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a (no published price)"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def format_estimate(e: Estimate) -> str:
    """A short plain-text table for the terminal."""
    label = f" [{e.stack}]" if e.stack else ""
    quota = f"{e.rpm:,} RPM" + (f", {e.tpm:,} TPM" if e.tpm else "; no TPM given")
    mark = "   <- configured"
    lines = [
        f"Estimate for {e.model} ({e.backend}){label}",
        f"  rows                {e.rows:,}  ({e.rows_to_send:,} to send, {e.texts_to_send:,} distinct texts; "
        "the rest are done or cost nothing)",
        f"  LLM calls           {e.calls:,}",
        f"  input tokens        {e.input_tokens:,}  ({e.input_tokens_per_row:,.1f} per row; {e.token_method_note})",
        f"  output tokens       {e.output_tokens:,}  ({e.output_tokens_per_row:g} per row, fixed: six short themes "
        "as JSON)",
        f"  expected time       {e.expected_minutes:,.1f} min on {e.tier}  (the quota alone: {e.minutes:,.1f} min at "
        f"{quota}; the tier table below has every tier)",
        f"  flow runs           {e.child_runs:,}" + (
            f"  (one after another, ~{e.minutes / e.child_runs:,.0f} min each: each fits the "
            f"{e.run_timeout_s / 60:,.0f}-min run timeout; run generate-themes-sharded)" if e.child_runs > 1
            else f"  (fits the {e.run_timeout_s / 60:,.0f}-min run timeout)"),
        "",
        f"  {'model':<24}USD (standard online price)",
        *(f"  {c.model:<24}{_usd(c.usd)}{mark if base_model(c.model) == base_model(e.model) else ''}"
          for c in e.costs),
        "",
        f"  {e.model} on each tier (half price = the same tokens at 50%):",
        *tier_lines(e.tiers, e.tier, e.deadline, e.auto, _usd),
        "",
        *([*day_lines(e.packings, e.packing, e.rpd, e.tpd), ""] if e.packings else []),
        *(f"  note: {n}" for n in e.notes),
    ]
    return "\n".join(lines)
