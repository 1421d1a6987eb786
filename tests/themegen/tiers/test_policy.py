"""What a flex request carries on the wire, read by a capture server: the Gemini API's body field
`serviceTier`, Vertex AI's shared-request-type header; standard requests carry neither."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from local_stack.processes import free_port
from themegen.llm.gemini.generator import Answer, GeminiGenerator
from themegen.config.settings import Settings
from themegen.tiers.policy import VERTEX_REQUEST_TYPE_HEADER, request_policy

THEMES = ["delivery", "damage", "refund", "support", "packaging", "delay"]


@asynccontextmanager
async def capture_server():
    """Answers every generateContent with six themes and keeps each request's body and headers."""
    seen: list[tuple[dict, dict]] = []

    async def generate(request: web.Request) -> web.Response:
        seen.append((await request.json(), dict(request.headers)))
        return web.json_response({
            "candidates": [{"content": {"role": "model", "parts": [{"text": json.dumps({"themes": THEMES})}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
        })

    app = web.Application()
    app.router.add_post("/{path:.*}", generate)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


BACKENDS = {"api_key": {"gemini_backend": "api_key", "gemini_api_key": "k"},
            "vertex": {"gemini_backend": "vertex", "gemini_location": "global", "gcp_credentials": "anonymous"}}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tier", ["standard", "flex"])
async def test_the_request_carries_the_tier(backend, tier, monkeypatch):
    if backend == "vertex":  # no ADC on a test machine: the SDK needs some credentials to sign with
        from google.oauth2.credentials import Credentials

        monkeypatch.setattr("google.auth.default", lambda *a, **k: (Credentials(token="t"), "themegen-local"))
    async with capture_server() as (url, seen):
        settings = Settings(**BACKENDS[backend], gemini_base_url=url, tier=tier, rpm=600_000)
        answer = await GeminiGenerator(settings).answer("r1", "The parcel came late.", 0)
    assert isinstance(answer, Answer) and answer.themes == THEMES
    [(body, headers)] = seen
    assert body.get("serviceTier") == ("flex" if tier == "flex" else None)
    expected_header = "flex" if (tier, backend) == ("flex", "vertex") else None
    assert headers.get(VERTEX_REQUEST_TYPE_HEADER) == expected_header


def test_flex_requests_wait_minutes_and_try_more_often_unless_set():
    flex = request_policy(Settings(tier="flex", rpm=1_000))
    assert (flex.timeout_s, flex.max_attempts, flex.max_in_flight) == (900, 10, 2_000)
    standard = request_policy(Settings(rpm=1_000))
    assert (standard.timeout_s, standard.max_attempts, standard.max_in_flight) == (60, 6, 256)
    assert request_policy(Settings(tier="flex", request_timeout_s=1_800, max_attempts=3)).timeout_s == 1_800
