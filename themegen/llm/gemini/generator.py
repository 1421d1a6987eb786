"""Gemini generator: six validated themes per row through the google-genai async client, one row
per request or several packed into one (`rows_per_request`)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import httpx
from google import genai
from google.genai import errors, types
from pydantic import BaseModel
from tenacity import RetryCallState, RetryError, retry_if_exception, stop_after_attempt

from themegen.domain.errors import sentence
from themegen.llm.gemini.client import generation_config, shared_client
from themegen.llm.gemini.retry import backoff_wait, is_per_day_quota, is_retryable, is_shed
from themegen.domain.stop import RunStop, RunStopped
from themegen.limiter import in_flight_gate, request_limiter
from themegen.domain.models import LlmUsage, Reason, RowFailure
from themegen.domain.prompt import InvalidAnswer, parse_answer, parse_items, prompt_of, user_content
from themegen.config.settings import Settings
from themegen.tiers.policy import RequestPolicy, request_policy
from themegen.llm import Answer, Row
from themegen.tiers.tier import Tier


T = TypeVar("T")


class Reply(BaseModel):
    text: str
    input_tokens: int
    output_tokens: int


class Blocked(InvalidAnswer):
    """The model declined to answer (safety, recitation...): the same request would be declined again."""


# Finish reasons that mean "declined", not "cut short": no repair retry, recorded as BLOCKED.
_DECLINED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def rejection_kind(reason: InvalidAnswer) -> str:
    """A packed item's rejection as a countable kind: numbers and quoted text left out (pure)."""
    return re.sub(r"\d+", "N", str(reason).split(":")[0].split("'")[0]).strip()[:80]


class GeneratorConfigError(RuntimeError):
    """Gemini refuses our credentials/model/region; the message names the settings to fix."""


class GeminiGenerator:
    """One per batch task: holds the batch's usage counters; the client itself is shared."""

    contents = staticmethod(user_content)  # the user turn for a request's rows (the judge sends its own)

    def __init__(self, settings: Settings, stop: RunStop | None = None,
                 before_sending: Callable[[], Awaitable[None]] | None = None,
                 policy: RequestPolicy | None = None) -> None:
        self.settings = settings
        # Awaited before each row or pack is asked (a batch takes its `gemini` slot here).
        self.before_sending = before_sending
        # Timeout, open requests, attempts and backoff as the tier declares them (flex: minutes);
        # the run's policy, built once, when the caller has it.
        self.policy = policy or request_policy(settings)
        self.client = shared_client(settings, self.policy)
        # RPM/TPM pacing with AIMD, plus the Prefect limits shared by all processes when configured.
        self.limiter = request_limiter(settings)
        self.in_flight = in_flight_gate(self.policy.max_in_flight)
        self._wait = backoff_wait(self.policy.tier.backoff_initial_s, self.policy.tier.backoff_max_s)
        self._stop_retrying = stop_after_attempt(self.policy.max_attempts)
        self._retry = retry_if_exception(is_retryable)
        self._fallback_at = _fallback_at(settings, self.policy.tier)
        self._fallback_client: genai.Client | None = None
        self.stop = stop or RunStop()
        self.usage = LlmUsage()
        self.rejected_items: Counter[str] = Counter()  # packed items asked again alone, by why

    async def check_access(self) -> None:
        """countTokens (not billed) proves key/credentials, model and region before any generation."""
        try:
            await self.client.aio.models.count_tokens(model=self.settings.model, contents="ping")
        except errors.ClientError as exc:
            if exc.code == 429:
                return  # quota is busy, not misconfigured
            raise GeneratorConfigError(
                f"Gemini answered {exc.code} {exc.status}: {sentence(exc.message)}. Check THEMEGEN_GEMINI_BACKEND, "
                "THEMEGEN_GEMINI_API_KEY (or the ADC credentials for Vertex AI), THEMEGEN_MODEL and "
                "THEMEGEN_GEMINI_LOCATION"
            ) from None
        except (aiohttp.ClientConnectionError, httpx.TransportError) as exc:
            where = self.settings.gemini.base_url or "Google's endpoint"
            raise GeneratorConfigError(
                f"Gemini cannot be reached at {where} ({type(exc).__name__}). Check THEMEGEN_GEMINI_BASE_URL and "
                "the network (the local stack's simulator: `themegen stack up`)"
            ) from None

    async def _on_the_wire(self, chars: int, send: Callable[[], Awaitable[T]]) -> T:
        """One request of any kind (themes, a judge's verdicts, embeddings): within the in-flight cap,
        paced by the limiter, counted; its 429s slow the limiter or stop the run for the day."""
        async with self.in_flight:
            # The stop is checked at the head of the limiter's queue and again right before the
            # wire: a request that queued while the stop tripped never goes out.
            if not await self.limiter.acquire(chars, self.stop) or self.stop.tripped:
                raise RunStopped(self.stop.reason)
            self.usage.calls += 1
            self.stop.in_flight += 1
            sent = time.monotonic()
            try:
                response = await send()
            except errors.APIError as exc:
                if exc.code == 429:
                    self.usage.http_429 += 1
                    if is_per_day_quota(exc):
                        self.stop.trip_daily_quota(exc.message)
                        raise RunStopped(self.stop.reason) from None
                    if not (self.policy.tier.best_effort and is_shed(exc)):  # shed flex: capacity, not our quota
                        self.limiter.on_rate_limited()
                raise
            finally:
                self.stop.in_flight -= 1
            self.usage.latency.add(1000 * (time.monotonic() - sent))
        return response

    async def _send(self, rows: list[Row], config: types.GenerateContentConfig) -> Reply:
        """One request. Raises APIError/transport errors as they come, InvalidAnswer on a bad finish
        (Blocked when the model declined), RunStopped once the run has stopped sending."""
        contents = self.contents(rows)

        async def send() -> tuple[types.GenerateContentResponse, bool]:
            client, routed, fallback = self._route(config)  # after the limiter's wait: the deadline may be near now
            self.usage.fallback_calls += fallback
            sent = client.aio.models.generate_content(model=self.settings.model, contents=contents, config=routed)
            return await sent, fallback

        response, fallback = await self._on_the_wire(len(contents), send)
        reply = reply_of(response)
        self.limiter.on_success()
        if reply.input_tokens:
            self.limiter.observe(len(contents), reply.input_tokens)
        self.usage.input_tokens += reply.input_tokens
        self.usage.output_tokens += reply.output_tokens
        if fallback:
            self.usage.fallback_input_tokens += reply.input_tokens
            self.usage.fallback_output_tokens += reply.output_tokens
        check_finish(response)
        return reply

    def _route(self, config: types.GenerateContentConfig) -> tuple[genai.Client, types.GenerateContentConfig, bool]:
        """(client, config, fell back): the run's tier, or the standard one once the deadline is near."""
        if self._fallback_at is None or time.time() < self._fallback_at:
            return self.client, config, False
        if self._fallback_client is None:  # the standard tier's client: no flex header, its timeout
            self._fallback_client = shared_client(self.settings.with_overrides(tier="standard"))
        return self._fallback_client, config.model_copy(update={"service_tier": None}), True

    async def _send_with_backoff(self, rows: list[Row], config: types.GenerateContentConfig,
                                 attempts: list[int]) -> Reply:
        """Retry 429 (after RetryInfo), 5xx and timeouts; everything else is raised at once.

        tenacity's policies (retry_if_exception, stop_after_attempt, the tier's wait) in a loop of our
        own, as AsyncRetrying runs them: on a retryable error the wait is computed, then the stop
        checked (RetryError from the last error once attempts are spent), then the wait slept. Not
        `async for attempt in AsyncRetrying(...)`: each one left objects in reference cycles (its
        thread-local state, an attempt Future with its Condition and lock) that only the cyclic
        garbage collector frees, and the requests queued in the in-flight gate live long enough to
        reach its oldest generation: its full collections were a large share of the flow process's
        CPU at zero latency (README Benchmarks; bench.throughput --profile). The happy path now makes
        one plain RetryCallState and no cycle."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
        while True:
            attempts[0] += 1
            self.usage.retries += state.attempt_number > 1
            try:
                return await self._send(rows, config)
            except Exception as exc:  # noqa: BLE001 - BaseExceptions (cancellation) are never retried
                state.set_exception((type(exc), exc, exc.__traceback__))
                if not self._retry(state):
                    raise
                wait = self._wait(state)
                if self._stop_retrying(state):
                    raise RetryError(state.outcome) from exc
            await asyncio.sleep(wait)
            state.prepare_for_next_attempt()

    def _reason(self, exc: BaseException, attempts: int) -> tuple[Reason, str]:
        """(reason class, message) for a request that got no answer."""
        if isinstance(exc, RunStopped):
            return Reason.NOT_SENT, f"not sent: {exc}"
        if isinstance(exc, RetryError):
            last = exc.last_attempt.exception()
            return Reason.TRANSIENT, f"gave up after {attempts} attempts: {type(last).__name__}: {last}"
        return Reason.REJECTED, f"{type(exc).__name__}: {exc}"

    async def answer(self, row_id: str, text: str, batch_id: int) -> Answer | RowFailure:
        """Six themes for one (prepared) text, or a failure with the reason. Never raises for one
        bad row: an invalid answer gets one repair attempt with the reason spelled out."""
        if self.before_sending is not None:
            await self.before_sending()
        attempts = [0]

        def failure(reason: Reason, message: str) -> RowFailure:
            return _failed(row_id, batch_id, reason, message, attempts[0])

        rows = [(row_id, text)]
        try:
            try:
                reply = await self._send_with_backoff(rows, generation_config(self.settings), attempts)
                return answer_of(row_id, text, parse_answer(reply.text), reply.text, reply)
            except Blocked as declined:
                return failure(Reason.BLOCKED, f"the model declined: {declined}")
            except InvalidAnswer as first:
                repair = generation_config(self.settings, prompt_of(self.settings).repair_instruction(str(first)))
                try:
                    reply = await self._send_with_backoff(rows, repair, attempts)
                    return answer_of(row_id, text, parse_answer(reply.text), reply.text, reply)
                except Blocked as declined:
                    return failure(Reason.BLOCKED, f"the model declined: {declined}")
                except InvalidAnswer as second:
                    return failure(Reason.INVALID_ANSWER, f"InvalidAnswer after a repair retry: {first}; then: {second}")
        except (RunStopped, RetryError, errors.APIError) as exc:
            return failure(*self._reason(exc, attempts[0]))

    async def answer_pack(self, rows: list[Row], batch_id: int) -> dict[str, Answer | RowFailure | None]:
        """Several rows in one request ({"items": [{id, themes}]}), each item validated and mapped
        back by id. None for a row means its item was missing or invalid: ask for it alone."""
        if self.before_sending is not None:
            await self.before_sending()
        attempts = [0]
        ids = [row_id for row_id, _ in rows]
        try:
            reply = await self._send_with_backoff(rows, generation_config(self.settings, rows=len(rows)), attempts)
            parsed = parse_items(reply.text, ids)
        except InvalidAnswer as unusable:  # the answer as a whole: every row alone
            self.rejected_items[f"whole answer: {rejection_kind(unusable)}"] += len(ids)
            return dict.fromkeys(ids)
        except (RunStopped, RetryError, errors.APIError) as exc:
            reason, message = self._reason(exc, attempts[0])
            return {row_id: _failed(row_id, batch_id, reason, message, attempts[0]) for row_id in ids}
        share = Reply(text="", input_tokens=reply.input_tokens // len(rows), output_tokens=reply.output_tokens // len(rows))
        answers: dict[str, Answer | RowFailure | None] = {}
        for row_id, text in rows:
            themes = parsed[row_id]
            if isinstance(themes, InvalidAnswer):
                self.rejected_items[rejection_kind(themes)] += 1
                answers[row_id] = None
            else:
                answers[row_id] = answer_of(row_id, text, themes, json.dumps({"themes": themes}, ensure_ascii=False), share)
        return answers


def reply_of(response: types.GenerateContentResponse) -> Reply:
    """The answer's text and token counts (pure): online replies and a batch job's alike."""
    meta = response.usage_metadata
    # Thinking tokens are billed as output (the themes' requests set none; a judge model may think).
    return Reply(text=response.text or "", input_tokens=(meta.prompt_token_count or 0) if meta else 0,
                 output_tokens=((meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)) if meta else 0)


def check_finish(response: types.GenerateContentResponse) -> None:
    """Blocked when the model declined, InvalidAnswer when it stopped for another reason (pure)."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        raise Blocked(f"prompt blocked: {getattr(feedback.block_reason, 'value', feedback.block_reason)}")
    finish = response.candidates[0].finish_reason if response.candidates else None
    if finish not in (None, types.FinishReason.STOP):
        name = getattr(finish, "value", str(finish))
        raise (Blocked if name in _DECLINED else InvalidAnswer)(f"finishReason {name}")


def _fallback_at(settings: Settings, tier: Tier) -> float | None:
    """From this moment (UNIX time) requests go at the standard price (pure): at once on batch (the
    rows its job left are asked online), near the deadline on flex with THEMEGEN_FLEX_FALLBACK, never else."""
    if not tier.synchronous:
        return 0.0
    margin, deadline = tier.fallback_margin_s, settings.deadline_at
    if not settings.flex_fallback or margin is None or deadline is None:
        return None
    return deadline.timestamp() - margin


def _failed(row_id: str, batch_id: int, reason: Reason, message: str, attempts: int) -> RowFailure:
    return RowFailure(source_id=row_id, batch_id=batch_id, reason=reason, error=message[:1000], attempts=attempts)


def answer_of(row_id: str, text: str, themes: list[str], raw: str, reply: Reply) -> Answer:
    return Answer(source_id=row_id, text=text, themes=themes, raw_text=raw,
                  input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
