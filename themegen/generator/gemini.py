"""Gemini generator: six validated themes per row through the google-genai async client."""

from __future__ import annotations

import asyncio

from google import genai
from google.genai import errors, types
from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt

from themegen.generator.retry import is_per_day_quota, is_retryable, wait_for
from themegen.limiter.throttle import process_throttle
from themegen.models import LlmUsage, RowFailure, SourceRow, ThemeRecord
from themegen.prompt import SYSTEM_INSTRUCTION, InvalidAnswer, ThemesSchema, input_hash, parse_answer, user_content
from themegen.settings import Settings


def make_client(settings: Settings) -> genai.Client:
    http = types.HttpOptions(base_url=settings.gemini_base_url, timeout=int(settings.request_timeout_s * 1000))
    if settings.gemini_backend == "vertex":
        return genai.Client(
            vertexai=True, project=settings.gcp_project, location=settings.gemini_location, http_options=http
        )
    return genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=http)


def generation_config(settings: Settings) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        system_instruction=SYSTEM_INSTRUCTION,
        temperature=settings.temperature,
        max_output_tokens=settings.max_output_tokens,
        response_mime_type="application/json",
        response_schema=ThemesSchema,
        # Themes need no reasoning; thinking tokens would be billed and eat max_output_tokens.
        thinking_config=types.ThinkingConfig(thinking_budget=settings.thinking_budget),
    )


class GeminiGenerator:
    """One per batch task (the async client is bound to the task's event loop)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = make_client(settings)
        self.config = generation_config(settings)
        self.throttle = process_throttle(settings.rpm)
        self.usage = LlmUsage()

    async def _call(self, row: SourceRow) -> list[str]:
        async with self.throttle:
            self.usage.calls += 1
            try:
                response = await self.client.aio.models.generate_content(
                    model=self.settings.model, contents=user_content(row.id, row.text or ""), config=self.config
                )
            except errors.APIError as exc:
                self.usage.http_429 += exc.code == 429
                raise
        meta = response.usage_metadata
        if meta:
            self.usage.input_tokens += meta.prompt_token_count or 0
            self.usage.output_tokens += meta.candidates_token_count or 0
        finish = response.candidates[0].finish_reason if response.candidates else None
        if finish not in (None, types.FinishReason.STOP):
            raise InvalidAnswer(f"finishReason {getattr(finish, 'value', finish)}")
        return parse_answer(response.text)

    async def themes_for(self, row: SourceRow, batch_id: int) -> ThemeRecord | RowFailure:
        """Six themes for the row, or a failure with the reason; never raises for one bad row
        (except a per-day quota error, which must stop the run)."""
        if row.text is None or not row.text.strip():
            return RowFailure(source_id=row.id, batch_id=batch_id, error="empty text: nothing to theme", attempts=0)
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.settings.max_attempts),
                wait=wait_for,
                retry=retry_if_exception(is_retryable),
                reraise=False,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    self.usage.retries += attempts > 1
                    themes = await self._call(row)
        except RetryError as exc:
            return self._failure(row, batch_id, exc.last_attempt.exception(), attempts)
        except (errors.APIError, InvalidAnswer) as exc:
            if is_per_day_quota(exc):
                raise
            return self._failure(row, batch_id, exc, attempts)
        return ThemeRecord(
            source_id=row.id,
            themes=themes,
            model=self.settings.model,
            prompt_version=self.settings.prompt_version,
            input_hash=input_hash(row.text),
        )

    @staticmethod
    def _failure(row: SourceRow, batch_id: int, exc: BaseException | None, attempts: int) -> RowFailure:
        reason = f"{type(exc).__name__}: {exc}" if exc else "unknown error"
        return RowFailure(source_id=row.id, batch_id=batch_id, error=reason[:1000], attempts=attempts)

    async def themes_for_rows(self, rows: list[SourceRow], batch_id: int) -> list[ThemeRecord | RowFailure]:
        return list(await asyncio.gather(*(self.themes_for(row, batch_id) for row in rows)))
