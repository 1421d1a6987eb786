"""Gemini generator: six validated themes per row through the google-genai async client."""

from __future__ import annotations

import threading
import time

from google import genai
from google.genai import errors, types
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt

from themegen.generator.retry import is_per_day_quota, is_retryable, wait_for
from themegen.limiter.shared import shared_gate
from themegen.limiter.throttle import in_flight_gate, process_throttle
from themegen.models import LlmUsage, RowFailure
from themegen.prompt import (
    REPAIR_INSTRUCTION,
    SYSTEM_INSTRUCTION,
    InvalidAnswer,
    ThemesSchema,
    parse_answer,
    user_content,
)
from themegen.settings import Settings


class Answer(BaseModel):
    """A validated answer plus what is needed to cache it (the raw text, never just the parse)."""

    source_id: str
    text: str
    themes: list[str]
    raw_text: str
    input_tokens: int = 0
    output_tokens: int = 0


_clients: dict[tuple, genai.Client] = {}
_clients_lock = threading.Lock()


def make_client(settings: Settings) -> genai.Client:
    http = types.HttpOptions(base_url=settings.gemini_base_url, timeout=int(settings.request_timeout_s * 1000))
    if settings.gemini_backend == "vertex":
        return genai.Client(
            vertexai=True, project=settings.gcp_project, location=settings.gemini_location, http_options=http
        )
    return genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=http)


def shared_client(settings: Settings) -> genai.Client:
    """One client per process and endpoint. google-genai keeps one aiohttp session per event loop
    inside a client, so every batch on a loop reuses its keep-alive connections instead of opening
    a connection per row (and building a TLS context per client)."""
    key = (settings.gemini_backend, settings.gemini_base_url, settings.gcp_project, settings.gemini_location,
           settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None,
           settings.request_timeout_s)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = make_client(settings)
        return _clients[key]


def generation_config(settings: Settings, instruction: str = SYSTEM_INSTRUCTION) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        system_instruction=instruction,
        temperature=settings.temperature,
        max_output_tokens=settings.max_output_tokens,
        response_mime_type="application/json",
        response_schema=ThemesSchema,
        # Themes need no reasoning; thinking tokens would be billed and eat max_output_tokens.
        thinking_config=types.ThinkingConfig(thinking_budget=settings.thinking_budget),
    )


class GeneratorConfigError(RuntimeError):
    """Gemini refuses our credentials/model/region; the message names the settings to fix."""


class GeminiGenerator:
    """One per batch task: holds the batch's usage counters; the client itself is shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = shared_client(settings)
        self.config = generation_config(settings)
        self.throttle = process_throttle(settings.rpm)
        # All processes' quota (a Prefect limit) when THEMEGEN_SHARED_RATE_LIMIT is set, else a no-op.
        self.shared = shared_gate(settings)
        self.in_flight = in_flight_gate(settings.max_in_flight)
        self.usage = LlmUsage()

    async def check_access(self) -> None:
        """countTokens (not billed) proves key/credentials, model and region before any generation."""
        try:
            await self.client.aio.models.count_tokens(model=self.settings.model, contents="ping")
        except errors.ClientError as exc:
            if exc.code == 429:
                return  # quota is busy, not misconfigured
            raise GeneratorConfigError(
                f"Gemini answered {exc.code} {exc.status}: {exc.message}. Check THEMEGEN_GEMINI_BACKEND, "
                "THEMEGEN_GEMINI_API_KEY (or the ADC credentials for Vertex AI), THEMEGEN_MODEL and "
                "THEMEGEN_GEMINI_LOCATION"
            ) from None

    async def _call(self, row_id: str, text: str, config: types.GenerateContentConfig) -> Answer:
        """One request. Raises APIError/transport errors as they come, InvalidAnswer on bad output."""
        async with self.in_flight, self.shared, self.throttle:
            self.usage.calls += 1
            sent = time.monotonic()
            try:
                response = await self.client.aio.models.generate_content(
                    model=self.settings.model, contents=user_content(row_id, text), config=config
                )
            except errors.APIError as exc:
                self.usage.http_429 += exc.code == 429
                raise
            self.usage.latencies_ms.append(round(1000 * (time.monotonic() - sent)))
        meta = response.usage_metadata
        tokens_in = (meta.prompt_token_count or 0) if meta else 0
        tokens_out = (meta.candidates_token_count or 0) if meta else 0
        self.usage.input_tokens += tokens_in
        self.usage.output_tokens += tokens_out
        finish = response.candidates[0].finish_reason if response.candidates else None
        if finish not in (None, types.FinishReason.STOP):
            raise InvalidAnswer(f"finishReason {getattr(finish, 'value', finish)}")
        raw = response.text or ""
        return Answer(source_id=row_id, text=text, themes=parse_answer(raw), raw_text=raw,
                      input_tokens=tokens_in, output_tokens=tokens_out)

    async def _call_with_backoff(self, row_id: str, text: str, config: types.GenerateContentConfig,
                                 attempts: list[int]) -> Answer:
        """Retry 429 (after RetryInfo), 5xx and timeouts; everything else is raised at once."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_attempts), wait=wait_for, retry=retry_if_exception(is_retryable)
        ):
            with attempt:
                attempts[0] += 1
                self.usage.retries += attempt.retry_state.attempt_number > 1
                return await self._call(row_id, text, config)
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    async def answer(self, row_id: str, text: str, batch_id: int) -> Answer | RowFailure:
        """Six themes for the (prepared) text, or a failure with the reason. Never raises for one
        bad row, except on a per-day quota error, which must stop the run."""
        attempts = [0]

        def failure(reason: str, retryable: bool = False) -> RowFailure:
            return RowFailure(source_id=row_id, batch_id=batch_id, error=reason[:1000], attempts=attempts[0],
                              retryable=retryable)

        try:
            try:
                return await self._call_with_backoff(row_id, text, self.config, attempts)
            except InvalidAnswer as first:
                # One repair attempt with the reason spelled out, then the row is recorded as failed.
                repair = generation_config(self.settings, REPAIR_INSTRUCTION.format(reason=first))
                try:
                    return await self._call_with_backoff(row_id, text, repair, attempts)
                except InvalidAnswer as second:
                    return failure(f"InvalidAnswer after a repair retry: {first}; then: {second}")
        except RetryError as exc:
            last = exc.last_attempt.exception()
            return failure(f"gave up after {attempts[0]} attempts: {type(last).__name__}: {last}", retryable=True)
        except errors.APIError as exc:
            if is_per_day_quota(exc):
                raise
            return failure(f"{type(exc).__name__}: {exc}")
