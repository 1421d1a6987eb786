"""Fixtures of the Gemini simulator tests: a fresh in-process simulator and a real client of it."""

import aiohttp
import pytest
from google import genai
from google.genai import types

from local_stack.gemini_sim import SimConfig, running_simulator


@pytest.fixture
async def sim():
    """(base_url, control session) of a fresh in-process simulator."""
    async with running_simulator(SimConfig()) as base_url, aiohttp.ClientSession(base_url) as control:
        yield base_url, control


@pytest.fixture
async def client(sim):
    """The real google-genai client (Gemini API backend, API key) pointed at the simulator."""
    gemini = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=sim[0]))
    yield gemini
    await gemini.aio.aclose()
