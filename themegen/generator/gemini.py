"""Gemini generator: six validated themes per row through the google-genai async client, one row
per request or several packed into one (`rows_per_request`)."""

from __future__ import annotations

import json
import time

from google.genai import errors, types
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt

from themegen.generator.client import generation_config, shared_client
from themegen.generator.retry import is_per_day_quota, is_retryable, wait_for
from themegen.generator.stop import DailyQuotaStop, QuotaStopped
from themegen.limiter import in_flight_gate, request_limiter
from themegen.models import LlmUsage, RowFailure
from themegen.prompt import REPAIR_INSTRUCTION, InvalidAnswer, parse_answer, parse_items, user_content
from themegen.settings import Settings

Row = tuple[str, str]  # (row id, prepared text)


class Answer(BaseModel):
    """A validated answer plus what is needed to cache it (the raw text, never just the parse)."""

    source_id: str
    text: str
    themes: list[str]
    raw_text: str
    input_tokens: int = 0
    output_tokens: int = 0


class Reply(BaseModel):
    text: str
    input_tokens: int
    output_tokens: int


class GeneratorConfigError(RuntimeError):
    """Gemini refuses our credentials/model/region; the message names the settings to fix."""


class GeminiGenerator:
    """One per batch task: holds the batch's usage counters; the client itself is shared."""

    def __init__(self, settings: Settings, stop: DailyQuotaStop | None = None) -> None:
        self.settings = settings
        self.client = shared_client(settings)
        # RPM/TPM pacing with AIMD, plus the Prefect limits shared by all processes when configured.
        self.limiter = request_limiter(settings)
        self.in_flight = in_flight_gate(settings.max_in_flight)
        self.stop = stop or DailyQuotaStop()
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

    async def _send(self, rows: list[Row], config: types.GenerateContentConfig) -> Reply:
        """One request. Raises APIError/transport errors as they come, InvalidAnswer on a bad finish,
        QuotaStopped once the run's per-day quota is gone."""
        if self.stop.tripped:
            raise QuotaStopped(self.stop.reason)
        contents = user_content(rows)
        async with self.in_flight:
            await self.limiter.acquire(len(contents))
            self.usage.calls += 1
            sent = time.monotonic()
            try:
                response = await self.client.aio.models.generate_content(
                    model=self.settings.model, contents=contents, config=config
                )
            except errors.APIError as exc:
                if exc.code == 429:
                    self.usage.http_429 += 1
                    if is_per_day_quota(exc):
                        self.stop.trip(exc.message)
                        raise QuotaStopped(self.stop.reason) from None
                    self.limiter.on_rate_limited()
                raise
            self.usage.latencies_ms.append(round(1000 * (time.monotonic() - sent)))
        meta = response.usage_metadata
        reply = Reply(text=response.text or "", input_tokens=(meta.prompt_token_count or 0) if meta else 0,
                      output_tokens=(meta.candidates_token_count or 0) if meta else 0)
        self.limiter.on_success()
        if reply.input_tokens:
            self.limiter.observe(len(contents), reply.input_tokens)
        self.usage.input_tokens += reply.input_tokens
        self.usage.output_tokens += reply.output_tokens
        finish = response.candidates[0].finish_reason if response.candidates else None
        if finish not in (None, types.FinishReason.STOP):
            raise InvalidAnswer(f"finishReason {getattr(finish, 'value', finish)}")
        return reply

    async def _send_with_backoff(self, rows: list[Row], config: types.GenerateContentConfig,
                                 attempts: list[int]) -> Reply:
        """Retry 429 (after RetryInfo), 5xx and timeouts; everything else is raised at once."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_attempts), wait=wait_for, retry=retry_if_exception(is_retryable)
        ):
            with attempt:
                attempts[0] += 1
                self.usage.retries += attempt.retry_state.attempt_number > 1
                return await self._send(rows, config)
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _reason(self, exc: BaseException, attempts: int) -> tuple[str, bool]:
        """(failure reason, retryable) for a request that got no answer."""
        if isinstance(exc, QuotaStopped):
            return f"not answered: {exc}", True
        if isinstance(exc, RetryError):
            last = exc.last_attempt.exception()
            return f"gave up after {attempts} attempts: {type(last).__name__}: {last}", True
        return f"{type(exc).__name__}: {exc}", False

    async def answer(self, row_id: str, text: str, batch_id: int) -> Answer | RowFailure:
        """Six themes for one (prepared) text, or a failure with the reason. Never raises for one
        bad row: an invalid answer gets one repair attempt with the reason spelled out."""
        attempts = [0]

        def failure(reason: str, retryable: bool = False) -> RowFailure:
            return _failed(row_id, batch_id, reason, attempts[0], retryable)

        rows = [(row_id, text)]
        try:
            try:
                reply = await self._send_with_backoff(rows, generation_config(self.settings), attempts)
                return _answer(row_id, text, parse_answer(reply.text), reply.text, reply)
            except InvalidAnswer as first:
                repair = generation_config(self.settings, REPAIR_INSTRUCTION.format(reason=first))
                try:
                    reply = await self._send_with_backoff(rows, repair, attempts)
                    return _answer(row_id, text, parse_answer(reply.text), reply.text, reply)
                except InvalidAnswer as second:
                    return failure(f"InvalidAnswer after a repair retry: {first}; then: {second}")
        except (QuotaStopped, RetryError, errors.APIError) as exc:
            return failure(*self._reason(exc, attempts[0]))

    async def answer_pack(self, rows: list[Row], batch_id: int) -> dict[str, Answer | RowFailure | None]:
        """Several rows in one request ({"items": [{id, themes}]}), each item validated and mapped
        back by id. None for a row means its item was missing or invalid: ask for it alone."""
        attempts = [0]
        ids = [row_id for row_id, _ in rows]
        try:
            reply = await self._send_with_backoff(rows, generation_config(self.settings, rows=len(rows)), attempts)
            parsed = parse_items(reply.text, ids)
        except InvalidAnswer:
            return dict.fromkeys(ids)  # the answer as a whole is unusable: every row alone
        except (QuotaStopped, RetryError, errors.APIError) as exc:
            reason, retryable = self._reason(exc, attempts[0])
            return {row_id: _failed(row_id, batch_id, reason, attempts[0], retryable) for row_id in ids}
        share = Reply(text="", input_tokens=reply.input_tokens // len(rows), output_tokens=reply.output_tokens // len(rows))
        return {
            row_id: _answer(row_id, text, themes, json.dumps({"themes": themes}, ensure_ascii=False), share)
            if isinstance(themes := parsed[row_id], list) else None
            for row_id, text in rows
        }


def _failed(row_id: str, batch_id: int, reason: str, attempts: int, retryable: bool) -> RowFailure:
    return RowFailure(source_id=row_id, batch_id=batch_id, error=reason[:1000], attempts=attempts,
                      retryable=retryable)


def _answer(row_id: str, text: str, themes: list[str], raw: str, reply: Reply) -> Answer:
    return Answer(source_id=row_id, text=text, themes=themes, raw_text=raw,
                  input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
