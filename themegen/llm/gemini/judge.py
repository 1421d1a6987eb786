"""The quality judge on Gemini: the generator's client, limiter, in-flight gate and retries (a
GeminiGenerator whose requests carry the rubric instead of the themes prompt), asked for several
rows' verdicts per request."""

from __future__ import annotations

from functools import lru_cache

from google.genai import errors, types
from tenacity import RetryError

from themegen.config.settings import Settings
from themegen.domain.prompt import InvalidAnswer
from themegen.domain.stop import RunStopped
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.quality.rubric import JUDGE_JSON_SCHEMA, RUBRIC, InvalidVerdict, JudgeRow, Verdict, judge_content, parse_judgements

# Room for a judge model's thinking and about 60 tokens of verdict per row.
MAX_OUTPUT_TOKENS = 8_192


@lru_cache(maxsize=4)
def judge_config(temperature: float) -> types.GenerateContentConfig:
    # Thinking left to the model: Gemini 2.5 Pro cannot turn it off; its tokens are counted as output.
    return types.GenerateContentConfig(system_instruction=RUBRIC, temperature=temperature,
                                       max_output_tokens=MAX_OUTPUT_TOKENS, response_mime_type="application/json",
                                       response_json_schema=JUDGE_JSON_SCHEMA)


class GeminiJudge(GeminiGenerator):
    contents = staticmethod(judge_content)

    def __init__(self, settings: Settings, judge_model: str) -> None:
        # The standard tier: a few hundred rows are not worth a batch job's day or flex's minutes.
        super().__init__(settings.with_overrides(model=judge_model, tier="standard"))

    async def judge(self, rows: list[JudgeRow]) -> dict[str, Verdict | InvalidVerdict]:
        """Each row's verdict, or why it has none; never raises for the judge's errors."""
        attempts = [0]
        try:
            reply = await self._send_with_backoff(rows, judge_config(0.0), attempts)
        except (RunStopped, RetryError, errors.APIError, InvalidAnswer) as exc:
            last = exc.last_attempt.exception() if isinstance(exc, RetryError) else exc
            reason = InvalidVerdict(f"{type(last).__name__}: {str(last)[:200]}")
            return {row.id: reason for row in rows}
        return parse_judgements(reply.text, rows)
