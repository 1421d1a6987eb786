"""The google-genai client and request configs, built once and shared (the per-call cost matters).

At zero latency one process is CPU-bound in the client, so everything that can be built once is:
- one client per (event loop, endpoint) with one aiohttp session: every batch on the loop reuses
  its keep-alive connections;
- that session does not read proxy variables and ~/.netrc on every request (aiohttp does, through
  an executor round trip, when `trust_env=True`, which google-genai sets) unless proxy variables
  are actually set, so corporate proxies keep working;
- response schemas are plain JSON Schema dicts (prompt.py), not pydantic classes google-genai
  would convert on every call; configs are cached per instruction.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from functools import lru_cache

import aiohttp
from google import genai
from google.genai import types

from themegen.pricing.cost import base_model
from themegen.config.gcp import gemini_credentials
from themegen.domain.prompt import ITEMS_JSON_SCHEMA, THEMES_JSON_SCHEMA, prompt_of
from themegen.config.settings import Settings
from themegen.tiers.policy import RequestPolicy, request_policy, service_tier

_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def make_client(settings: Settings, session: aiohttp.ClientSession | None = None,
                policy: RequestPolicy | None = None) -> genai.Client:
    """A client with the tier's timeout and headers (Vertex AI's Flex is a header, not a body field)."""
    policy = policy or request_policy(settings)
    http = types.HttpOptions(
        base_url=settings.gemini.base_url, timeout=int(policy.timeout_s * 1000), aiohttp_client=session,
        headers=dict(policy.headers) or None,
    )
    if settings.gemini.backend == "vertex":
        return genai.Client(
            vertexai=True, project=settings.gcp_project, location=settings.gemini.location, http_options=http,
            credentials=gemini_credentials(settings),
        )
    return genai.Client(api_key=settings.gemini.api_key.get_secret_value(), http_options=http)


def _client_key(settings: Settings, policy: RequestPolicy) -> tuple:
    return (settings.gemini.backend, settings.gemini.base_url, settings.gcp_project, settings.gemini.location,
            settings.gemini.api_key.get_secret_value() if settings.gemini.api_key else None,
            policy)


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, genai.Client]] = (
    weakref.WeakKeyDictionary()
)
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def shared_client(settings: Settings, policy: RequestPolicy | None = None) -> genai.Client:
    """The client for this event loop and endpoint (an aiohttp session belongs to one loop); `policy`:
    the run's, when the caller has it (built once per run), else built from the settings."""
    loop = asyncio.get_running_loop()
    policy = policy or request_policy(settings)
    key = _client_key(settings, policy)
    with _lock:
        clients = _clients.setdefault(loop, {})
        if key not in clients:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),  # max_in_flight caps connections, not the pool
                trust_env=any(os.environ.get(name) for name in _PROXY_VARIABLES),
            )
            _sessions.setdefault(loop, []).append(session)
            clients[key] = make_client(settings, session, policy)
        return clients[key]


async def close_clients() -> None:
    """Close this loop's sessions (end of the generation step); the next use opens new ones."""
    loop = asyncio.get_running_loop()
    with _lock:
        _clients.pop(loop, None)
        sessions = _sessions.pop(loop, [])
    for session in sessions:
        await session.close()


# Gemini 2.5 Pro cannot turn thinking off: a budget under 128 is refused (400 "This model only works
# in thinking mode"). Flash and Flash-Lite take 0.
PRO_LEAST_THINKING = 128


def thinking_budget_for(model: str, asked: int | None) -> int | None:
    """The budget to send: `asked`, raised to the least the model takes; None (the model's dynamic
    thinking) stays None."""
    least = PRO_LEAST_THINKING if "-pro" in base_model(model) else 0
    return None if asked is None else max(least, asked)


@lru_cache(maxsize=64)
def _config(instruction: str, packed: bool, temperature: float, max_output_tokens: int,
            thinking_budget: int | None, service_tier: str | None) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        system_instruction=instruction,
        temperature=temperature,
        max_output_tokens=max_output_tokens,
        response_mime_type="application/json",
        response_json_schema=ITEMS_JSON_SCHEMA if packed else THEMES_JSON_SCHEMA,
        # Themes need no reasoning; thinking tokens would be billed and eat max_output_tokens.
        thinking_config=types.ThinkingConfig(thinking_budget=thinking_budget),
        # Flex on the Gemini API is this body field ("serviceTier"); None leaves it out (standard).
        service_tier=types.ServiceTier(service_tier) if service_tier else None,
    )


def generation_config(settings: Settings, instruction: str | None = None, rows: int = 1) -> types.GenerateContentConfig:
    """The config for a request carrying `rows` rows; more than one uses the items schema, whose
    output budget grows with the rows so a full answer is never cut at max_output_tokens."""
    packed = rows > 1
    return _config(instruction or prompt_of(settings).system_instruction(packed), packed,
                   settings.temperature, settings.max_output_tokens * rows,
                   thinking_budget_for(settings.model, settings.thinking_budget), service_tier(settings))
