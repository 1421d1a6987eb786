"""A batch line's request is the body google-genai's online client sends: a contract on its wire form.

The online path (GeminiGenerator, on google-genai's public API only) sends its request to a capture
server on each backend, and the body must equal the batch line's request for the same rows and
settings. This fails when a google-genai release changes what it sends (a field renamed, a new
default sent): make request_body.py write the same, keeping its order (see the last test).
"""

from __future__ import annotations

import json

import pytest

from tests.themegen.llm.jobs.test_requests import row
from tests.themegen.tiers.test_policy import BACKENDS, capture_server
from themegen.config.settings import Settings
from themegen.llm.gemini.client import close_clients, generation_config
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.llm.jobs.request_body import request_body
from themegen.llm.jobs.requests import pack, request_json

ROWS = [row("r1", "The parcel came late."), row("r2", "配送が遅い、\"箱\"が潰れていた\n")]
PROJECT = {"vertex": {"gcp_project": "themegen-local"}, "api_key": {}}


def batch_settings(backend: str, url: str, thinking_budget: int | None) -> Settings:
    return Settings(**BACKENDS[backend], **PROJECT[backend], gemini_base_url=url, tier="batch", rpm=600_000,
                    rows_per_request=2, thinking_budget=thinking_budget)


async def ask_online(settings: Settings, rows: int) -> None:
    """The online path asks for the first `rows` rows (a pack, or a row alone), whatever it gets back."""
    generator = GeminiGenerator(settings)
    try:
        if rows > 1:
            await generator.answer_pack([(r.id, r.text) for r in ROWS[:rows]], 0)
        else:
            await generator.answer(ROWS[0].id, ROWS[0].text, 0)
    finally:
        await close_clients()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows", [2, 1])
@pytest.mark.parametrize("thinking_budget", [0, None])
async def test_the_batch_request_is_what_the_online_client_sends(backend, rows, thinking_budget):
    async with capture_server() as (url, seen):
        settings = batch_settings(backend, url, thinking_budget)
        await ask_online(settings, rows)
    [(online, _headers)] = seen
    [request] = pack(ROWS[:rows], rows)
    assert request_json(request, settings) == online


def test_a_config_field_the_batch_request_would_leave_out_is_refused():
    flex = Settings(gemini_api_key="k", tier="flex")  # Flex's serviceTier: an online field only
    with pytest.raises(ValueError, match="service_tier"):
        request_body("{}", generation_config(flex))
    topped = generation_config(Settings(gemini_api_key="k")).model_copy(update={"top_p": 0.5})
    with pytest.raises(ValueError, match="top_p"):
        request_body("{}", topped)


def test_fields_keep_their_order_so_a_job_file_keeps_its_hash():
    # A job file's hash is its record key: written in another order, the same requests would not
    # find the job a previous run submitted, and a rerun would pay for a second one.
    body = request_json(pack(ROWS, 2)[0], Settings(gemini_api_key="k", tier="batch"))
    assert list(body) == ["contents", "systemInstruction", "generationConfig"]
    assert list(body["generationConfig"]) == ["temperature", "maxOutputTokens", "responseMimeType",
                                              "responseJsonSchema", "thinkingConfig"]
    assert json.loads(json.dumps(body)) == body
