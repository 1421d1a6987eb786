"""The Gemini simulator, driven by the real google-genai async client (no network needed)."""

import json
from datetime import date

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from local_stack.gemini_sim import SimConfig, approx_tokens, derive_themes
from local_stack.gemini_sim.quota import QuotaWindows

MODEL = "gemini-2.5-flash"
TEXT = "Solar panels and wind turbines: renewable energy makes energy cheaper, solar especially."


class Themes(BaseModel):
    themes: list[str]


class Item(BaseModel):
    id: str
    themes: list[str]


class Items(BaseModel):
    items: list[Item]


JSON_THEMES = types.GenerateContentConfig(
    response_mime_type="application/json", response_schema=Themes
)


async def configure(sim, **knobs) -> dict:
    async with sim[1].post("/_sim/config", json=knobs) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def stats(sim) -> dict:
    async with sim[1].get("/_sim/stats") as response:
        return await response.json()


async def ask(client, text=TEXT, config=JSON_THEMES):
    return await client.aio.models.generate_content(model=MODEL, contents=text, config=config)


def quota_details(err: errors.APIError) -> dict[str, dict]:
    return {d["@type"].rsplit(".", 1)[-1]: d for d in err.details["error"]["details"]}


# --- approx_tokens (themes: test_gemini_sim_themes.py) ---------------------------------------


def test_approx_tokens():
    assert approx_tokens("abcd" * 10) == 10
    assert approx_tokens("日本語") == 3
    assert approx_tokens("日本 ab") == 3
    assert approx_tokens("") == 1


# --- generateContent / countTokens -----------------------------------------------------------


async def test_themes_equal_derive_themes(sim, client):
    response = await ask(client)
    assert response.parsed == Themes(themes=derive_themes(TEXT))
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.prompt_token_count == approx_tokens(TEXT)
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert response.sdk_http_response.headers["x-themegen-simulated"] == "true"
    counted = await client.aio.models.count_tokens(model=MODEL, contents="日本語 text")
    assert counted.total_tokens == approx_tokens("日本語 text")


async def test_vertex_path(sim):
    vertex = genai.Client(
        vertexai=True,
        project="local-project",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token="x"),
        http_options=types.HttpOptions(base_url=sim[0]),
    )
    response = await ask(vertex)
    assert response.parsed.themes == derive_themes(TEXT)
    assert (await vertex.aio.models.count_tokens(model=MODEL, contents=TEXT)).total_tokens == (
        approx_tokens(TEXT)
    )
    await vertex.aio.aclose()


async def test_items_schema_maps_ids(sim, client):
    rows = [{"id": "r1", "text": TEXT}, {"id": "r2", "text": "猫カフェと猫の写真"}]
    prompt = "Give six themes per row.\n" + json.dumps({"rows": rows}, ensure_ascii=False)
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_schema=Items,
        system_instruction="You label rows with themes.",
    )
    response = await ask(client, prompt, config)
    assert response.parsed == Items(
        items=[Item(id=r["id"], themes=derive_themes(r["text"])) for r in rows]
    )
    assert response.usage_metadata.prompt_token_count == approx_tokens(
        "You label rows with themes.\n" + prompt
    )
    assert (await stats(sim))["rows_answered"] == 2


async def test_response_json_schema_is_supported(client):
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=Themes.model_json_schema()
    )
    response = await ask(client, config=config)
    assert response.parsed == {"themes": derive_themes(TEXT)}


# --- quotas, bursts and faults -----------------------------------------------------------------


def test_quota_window_frees_slots_and_ignores_rejected_calls():
    windows, config = QuotaWindows(), SimConfig(rpm=2)
    for now in (0.0, 10.0):
        assert windows.check(now, 1, config) is None
        windows.record(now, 1, config)
    assert windows.check(30.0, 1, config).retry_delay_s == 30.0  # the t=0 slot frees at t=60
    assert windows.check(60.0, 1, config) is None  # the rejected t=30 call took no slot


async def test_rpm_quota_answers_429_with_retry_info(sim, client):
    await configure(sim, rpm=2)
    await ask(client)
    await ask(client)
    with pytest.raises(errors.ClientError) as caught:
        await ask(client)
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    details = quota_details(caught.value)
    violation = details["QuotaFailure"]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel"
    assert violation["quotaValue"] == "2" and violation["quotaDimensions"] == {"model": MODEL}
    assert 0 < float(details["RetryInfo"]["retryDelay"].removesuffix("s")) <= 60
    counters = await stats(sim)
    assert (counters["requests"], counters["ok"], counters["http_429"]) == (3, 2, 1)


async def test_tpm_quota_uses_input_token_quota_id(sim, client):
    await configure(sim, tpm=approx_tokens(TEXT) + 1)
    await ask(client)
    with pytest.raises(errors.ClientError) as caught:
        await ask(client)
    details = quota_details(caught.value)
    assert details["QuotaFailure"]["violations"][0]["quotaId"] == (
        "GenerateContentInputTokensPerModelPerMinute"
    )
    assert "RetryInfo" in details


async def test_rpd_quota_refuses_as_the_real_api_until_the_day_resets(sim, client):
    await configure(sim, rpd=1)
    await ask(client)
    with pytest.raises(errors.ClientError) as caught:
        await ask(client)
    details = quota_details(caught.value)
    # as the real API: a Help link, the location, and a RetryInfo of seconds that does not mean the day
    assert caught.value.code == 429 and "You exceeded your current quota" in caught.value.message
    violation = details["QuotaFailure"]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel" and violation["quotaValue"] == "1"
    assert violation["quotaDimensions"] == {"location": "global", "model": MODEL}
    assert "Help" in details and float(details["RetryInfo"]["retryDelay"].removesuffix("s")) < 60
    async with sim[1].post("/_sim/new_day") as response:
        assert response.status == 200
    await ask(client)  # the next day's quota


def test_the_rpd_day_ends_at_midnight_in_its_time_zone():
    windows, config = QuotaWindows(), SimConfig(rpd=1)
    windows.record(0.0, 1, config)
    assert windows.check(1.0, 1, config).quota_id == "GenerateRequestsPerDayPerProjectPerModel"
    windows._day = date(2000, 1, 1)  # the day the count belongs to has passed
    assert windows.check(2.0, 1, config) is None


async def test_burst_429_carries_configured_retry_delay(sim, client):
    await configure(sim, burst_429=1, burst_retry_delay_s=0.25)
    with pytest.raises(errors.ClientError) as caught:
        await ask(client)
    assert quota_details(caught.value)["RetryInfo"]["retryDelay"] == "0.25s"
    assert (await ask(client)).parsed.themes == derive_themes(TEXT)


async def test_burst_503_then_success(sim, client):
    await configure(sim, burst_503=2)
    for _ in range(2):
        with pytest.raises(errors.ServerError) as caught:
            await ask(client)
        assert caught.value.code == 503 and caught.value.status == "UNAVAILABLE"
    assert (await ask(client)).parsed.themes == derive_themes(TEXT)
    counters = await stats(sim)
    assert (counters["http_503"], counters["ok"]) == (2, 1)


async def test_sdk_retries_ride_out_a_burst(sim):
    retrying = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(
            base_url=sim[0],
            retry_options=types.HttpRetryOptions(
                attempts=4, initial_delay=0.01, max_delay=0.01, jitter=0
            ),
        ),
    )
    await configure(sim, burst_429=1, burst_503=2)
    assert (await ask(retrying)).parsed.themes == derive_themes(TEXT)
    assert (await stats(sim))["requests"] == 4
    await retrying.aio.aclose()


async def test_fail_ids_get_invalid_answers_and_error_ids_get_500(sim, client):
    await configure(sim, fail_ids=["bad"], error_ids=["boom"])
    rows = [{"id": "good", "text": TEXT}, {"id": "bad", "text": "the bad row text"}]
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=Items
    )
    items = (await ask(client, json.dumps({"rows": rows}), config)).parsed.items
    assert items[0].themes == derive_themes(TEXT)
    bad = items[1].themes
    assert len(bad) != 6 or len(set(bad)) != 6 or not all(bad) or max(map(len, bad)) > 200
    with pytest.raises(errors.ServerError) as caught:
        await ask(client, json.dumps({"rows": [{"id": "boom", "text": TEXT}]}))
    assert caught.value.code == 500 and caught.value.status == "INTERNAL"
    counters = await stats(sim)
    assert (counters["invalid_outputs"], counters["http_500"]) == (1, 1)


async def test_invalid_output_rate_one_breaks_every_answer(sim, client):
    await configure(sim, invalid_output_rate=1.0)
    for _ in range(5):
        parsed = (await ask(client)).parsed
        assert parsed is None or parsed.themes != derive_themes(TEXT)
    assert (await stats(sim))["invalid_outputs"] == 5


@pytest.mark.parametrize("reason", ["SAFETY", "MAX_TOKENS"])
async def test_finish_reasons(sim, client, reason):
    await configure(sim, finish_reason_rate=1.0, finish_reason=reason)
    response = await ask(client)
    assert response.candidates[0].finish_reason == reason
    assert response.parsed is None
    assert (response.text is None) == (reason == "SAFETY")


# --- control endpoints -------------------------------------------------------------------------


async def test_stats_count_rows_and_reset(sim, client):
    await ask(client, json.dumps({"rows": [{"id": "a", "text": "alpha"}]}))
    await ask(client, json.dumps({"rows": [{"id": "a", "text": "alpha"}]}))
    await ask(client, "plain text without the rows payload")
    counters = await stats(sim)
    assert counters["requests"] == counters["ok"] == 3
    assert counters["row_requests"] == {"a": 2, "": 1}
    assert counters["input_tokens"] > 0 and counters["output_tokens"] > 0
    async with sim[1].post("/_sim/reset") as response:
        assert (await response.json())["requests"] == 0
    assert (await stats(sim))["row_requests"] == {}


async def test_config_rejects_unknown_or_invalid_knobs(sim):
    for bad in ({"rpmm": 3}, {"error_rate_500": 2}):
        async with sim[1].post("/_sim/config", json=bad) as response:
            assert response.status == 400
    async with sim[1].get("/_sim/config") as response:
        assert await response.json() == SimConfig().model_dump(mode="json")


async def test_health_is_labelled_simulated(sim):
    async with sim[1].get("/_sim/health") as response:
        assert await response.json() == {"status": "ok", "simulated": True}
        assert response.headers["x-themegen-simulated"] == "true"
    async with sim[1].get("/no/such/route") as response:
        assert response.status == 404 and response.headers["x-themegen-simulated"] == "true"
