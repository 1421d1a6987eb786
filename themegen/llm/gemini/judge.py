"""The quality judges on Gemini: the generator's client, limiter, in-flight gate and retries (a
GeminiGenerator whose requests carry a rubric instead of the themes prompt), several rows per request:
GeminiJudge rates one set of themes per row, GeminiPairJudge says which of two sets is better."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from google.genai import errors, types
from tenacity import RetryError

from themegen.config.settings import Settings
from themegen.domain.prompt import InvalidAnswer
from themegen.domain.stop import RunStopped
from themegen.llm.gemini.client import thinking_budget_for
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.quality.compare import PAIR_JSON_SCHEMA, PAIR_RUBRIC, PairRow, pair_content, parse_preferences
from themegen.quality.rubric import JUDGE_JSON_SCHEMA, RUBRIC, InvalidVerdict, JudgeRow, Verdict, judge_content, parse_judgements

# Room for the verdicts of up to 50 rows (a few tokens each, more when themes fail) beside the thinking.
VERDICT_TOKENS = 4_096
_RUBRICS = {"rate": (RUBRIC, JUDGE_JSON_SCHEMA), "pair": (PAIR_RUBRIC, PAIR_JSON_SCHEMA)}


def judge_thinking_budget(settings: Settings, judge_model: str) -> int:
    """THEMEGEN_JUDGE_THINKING_BUDGET, at least what the model takes (Pro: 128; it cannot think less)."""
    return thinking_budget_for(judge_model, settings.judge_thinking_budget or 0)


@lru_cache(maxsize=8)
def judge_config(kind: str, thinking_budget: int) -> types.GenerateContentConfig:
    instruction, schema = _RUBRICS[kind]
    # A bounded budget: Gemini 2.5 Pro cannot turn thinking off, and unbounded (dynamic) thinking on a
    # short rubric would cost more than the verdicts. Its tokens are billed and counted as output.
    return types.GenerateContentConfig(system_instruction=instruction, temperature=0.0,
                                       max_output_tokens=VERDICT_TOKENS + thinking_budget,
                                       response_mime_type="application/json", response_json_schema=schema,
                                       thinking_config=types.ThinkingConfig(thinking_budget=thinking_budget))


class _Judging(GeminiGenerator):
    def __init__(self, settings: Settings, judge_model: str) -> None:
        # The standard tier: a few hundred rows are not worth a batch job's day or flex's minutes.
        super().__init__(settings.with_overrides(model=judge_model, tier="standard"))
        self.thinking_budget = judge_thinking_budget(settings, judge_model)

    async def _ask(self, rows: Sequence, kind: str, parse: Callable) -> dict:
        """Each row's parsed answer, or why it has none; never raises for the judge's errors."""
        attempts = [0]
        try:
            reply = await self._send_with_backoff(list(rows), judge_config(kind, self.thinking_budget), attempts)
        except (RunStopped, RetryError, errors.APIError, InvalidAnswer) as exc:
            last = exc.last_attempt.exception() if isinstance(exc, RetryError) else exc
            reason = InvalidVerdict(f"{type(last).__name__}: {str(last)[:200]}")
            return {row.id: reason for row in rows}
        return parse(reply.text, rows)


class GeminiJudge(_Judging):
    contents = staticmethod(judge_content)

    async def judge(self, rows: list[JudgeRow]) -> dict[str, Verdict | InvalidVerdict]:
        return await self._ask(rows, "rate", parse_judgements)


class GeminiPairJudge(_Judging):
    contents = staticmethod(pair_content)

    async def prefer(self, rows: list[PairRow]) -> dict[str, str | InvalidVerdict]:
        """'1', '2' or 'same' per row: which of its two sets of themes is better."""
        return await self._ask(rows, "pair", parse_preferences)
