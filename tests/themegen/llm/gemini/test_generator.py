"""The generator against the Gemini simulator: bad answers get one repair retry, then a reason."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from local_stack.gemini_sim import SimConfig, derive_themes, running_simulator
from themegen.llm.gemini.generator import Answer, GeminiGenerator, GeneratorConfigError
from themegen.domain.stop import RunStop
from themegen.domain.models import Reason, RowFailure
from themegen.config.settings import Settings

TEXT = "The parcel arrived late and the box was damaged; support never answered my refund request."


def settings_for(base_url: str, **overrides) -> Settings:
    values = {"gemini_backend": "api_key", "gemini_api_key": "k", "gemini_base_url": base_url, "rpm": 600_000,
              "max_attempts": 3}
    return Settings(**(values | overrides))


async def stats(base_url: str) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base_url}/_sim/stats")).json()


async def test_valid_answer_carries_raw_text_and_tokens():
    async with running_simulator() as url:
        answer = await GeminiGenerator(settings_for(url)).answer("r1", TEXT, 0)
    assert isinstance(answer, Answer)
    assert answer.themes == derive_themes(TEXT) and answer.raw_text and answer.input_tokens > 0


@pytest.mark.parametrize("mode", ["not_json", "five_themes", "duplicate_theme", "empty_theme", "long_theme"])
async def test_invalid_answer_gets_one_repair_retry_then_a_recorded_reason(mode):
    async with running_simulator(SimConfig(fail_ids=["r1"], fail_mode=mode)) as url:
        outcome = await GeminiGenerator(settings_for(url)).answer("r1", TEXT, 4)
        counts = await stats(url)
    assert isinstance(outcome, RowFailure)
    assert outcome.error.startswith("InvalidAnswer after a repair retry") and outcome.attempts == 2
    assert (outcome.batch_id, outcome.reason, outcome.retryable) == (4, Reason.INVALID_ANSWER, False)
    assert counts["requests"] == 2


async def test_repair_retry_can_succeed():
    async with running_simulator(SimConfig(fail_ids=["r1"], fail_mode="five_themes", fail_times=1)) as url:
        outcome = await GeminiGenerator(settings_for(url)).answer("r1", TEXT, 0)
        counts = await stats(url)
    assert isinstance(outcome, Answer) and outcome.themes == derive_themes(TEXT)
    assert counts["requests"] == 2


@pytest.mark.parametrize("reason, kind, requests", [("SAFETY", Reason.BLOCKED, 1), ("RECITATION", Reason.BLOCKED, 1),
                                                     ("MAX_TOKENS", Reason.INVALID_ANSWER, 2)])
async def test_declined_or_truncated_answers_are_recorded_with_the_finish_reason(reason, kind, requests):
    """A declined answer would be declined again: no repair retry. A truncated one gets one."""
    async with running_simulator(SimConfig(finish_reason_rate=1.0, finish_reason=reason)) as url:
        outcome = await GeminiGenerator(settings_for(url)).answer("r1", TEXT, 0)
        counts = await stats(url)
    assert isinstance(outcome, RowFailure) and f"finishReason {reason}" in outcome.error and outcome.reason == kind
    assert counts["requests"] == requests


async def test_server_errors_are_retried_up_to_max_attempts_then_marked_retryable():
    async with running_simulator(SimConfig(error_ids=["r1"])) as url:
        outcome = await GeminiGenerator(settings_for(url, max_attempts=2)).answer("r1", TEXT, 0)
        counts = await stats(url)
    assert isinstance(outcome, RowFailure) and outcome.retryable and "ServerError" in outcome.error
    assert counts["requests"] == outcome.attempts == 2


async def test_retry_info_delay_is_honoured():
    async with running_simulator(SimConfig(burst_429=1, burst_retry_delay_s=1.5)) as url:
        generator = GeminiGenerator(settings_for(url))
        started = time.monotonic()
        outcome = await generator.answer("r1", TEXT, 0)
        waited = time.monotonic() - started
    assert isinstance(outcome, Answer) and generator.usage.http_429 == 1 and generator.usage.retries == 1
    assert waited >= 1.5  # never earlier than the server asked


async def test_a_wrong_api_key_fails_the_preflight_naming_the_setting():
    async with running_simulator(SimConfig(api_key="right")) as url:
        with pytest.raises(GeneratorConfigError, match="THEMEGEN_GEMINI_API_KEY"):
            await GeminiGenerator(settings_for(url)).check_access()
        assert (await stats(url))["requests"] == 0


PACK = [(f"r{i}", f"{TEXT} Variant {i}.") for i in range(5)]


async def test_a_packed_answer_is_mapped_back_by_id_and_a_bad_item_is_left_for_a_single_retry():
    async with running_simulator(SimConfig(fail_ids=["r3"], fail_mode="duplicate_theme")) as url:
        answers = await GeminiGenerator(settings_for(url, rows_per_request=5)).answer_pack(PACK, 2)
        counts = await stats(url)
    assert counts["requests"] == 1
    assert answers["r3"] is None  # asked again alone by the caller
    for row_id, text in PACK:
        if row_id != "r3":
            assert isinstance(answers[row_id], Answer) and answers[row_id].themes == derive_themes(text)
            assert answers[row_id].raw_text == json.dumps({"themes": derive_themes(text)}, ensure_ascii=False)


async def test_a_packed_answer_that_is_not_json_leaves_every_row_for_a_single_retry():
    async with running_simulator(SimConfig(fail_ids=["r0"], fail_mode="not_json")) as url:
        answers = await GeminiGenerator(settings_for(url)).answer_pack(PACK, 0)
    assert answers == dict.fromkeys(row_id for row_id, _ in PACK)


async def test_a_per_day_quota_stops_every_later_request_of_the_run():
    async with running_simulator(SimConfig(rpd=2)) as url:
        stop = RunStop()
        generator = GeminiGenerator(settings_for(url), stop)
        first = [await generator.answer(f"r{i}", TEXT, 0) for i in range(3)]
        later = await GeminiGenerator(settings_for(url), stop).answer_pack(PACK, 1)
        counts = await stats(url)
    assert [type(a) for a in first] == [Answer, Answer, RowFailure]
    assert counts["requests"] == 3 and counts["http_429"] == 1  # refused once, never retried, then silence
    assert stop.tripped and "per-day quota" in stop.reason
    failures = [first[2], *later.values()]
    assert all(isinstance(f, RowFailure) and f.reason == Reason.NOT_SENT and "per-day quota" in f.error
               for f in failures)


async def test_requests_waiting_in_the_limiter_when_the_stop_trips_are_never_sent():
    """At a low RPM many requests queue in the limiter; the per-day refusal must hold them all back."""
    async with running_simulator(SimConfig(rpd=1)) as url:
        stop = RunStop()
        generator = GeminiGenerator(settings_for(url, rpm=120), stop)  # one request per 0.5 s
        outcomes = await asyncio.gather(*(generator.answer(f"r{i}", TEXT, 0) for i in range(12)))
        counts = await stats(url)
    assert counts["requests"] - counts["http_429"] == 1 and counts["http_429"] >= 1
    # only requests already on the wire when the first per-day 429 came back may have followed it
    assert counts["requests"] <= 2 + 1
    assert sum(isinstance(o, RowFailure) and o.reason == Reason.NOT_SENT for o in outcomes) == 11
    assert "requests were in flight" in stop.reason


async def test_pro_generates_with_the_least_thinking_it_takes_where_no_thinking_is_asked():
    """THEMEGEN_THINKING_BUDGET=0 (the default, no thinking) cannot be sent to Gemini 2.5 Pro: the API
    refuses a budget under 128 (the simulator too). The generator raises it to 128, billed as output."""
    async with running_simulator() as url:
        async with httpx.AsyncClient() as client:
            body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}],
                    "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
            refused = await client.post(f"{url}/v1beta/models/gemini-2.5-pro:generateContent", json=body,
                                        headers={"x-goog-api-key": "k"})
        pro = await GeminiGenerator(settings_for(url, model="gemini-2.5-pro")).answer("r1", TEXT, 0)
        flash = await GeminiGenerator(settings_for(url, model="gemini-2.5-flash")).answer("r1", TEXT, 0)
    assert refused.status_code == 400 and "only works in thinking mode" in refused.text
    assert isinstance(pro, Answer) and isinstance(flash, Answer) and pro.themes == flash.themes
    assert pro.output_tokens - flash.output_tokens == 128
