"""The Gemini embedder against the simulator: unit vectors of the configured size, distinct texts
only, each asked once ever (the row cache), and one bad text never costs the others their vectors.
Requests are counted by the simulator, not by the embedder."""

from __future__ import annotations

import math

import httpx
import pytest

from local_stack.gemini_sim import SimConfig, running_simulator
from themegen.cache.segments.client import folder_of
from themegen.cache.sqlite.client import LocalCache
from themegen.config.settings import Settings
from themegen.llm.gemini.embedder import (GeminiEmbedder, decode_vector, embedding_key, embedding_settings, encode_vector,
                                          texts_per_request)
from themegen.taxonomy import EmbedFailure, open_embedder

THEMES = ["late delivery", "配送の遅れ", "app crashes", "アプリのクラッシュ", "billing errors", "refund never came"]


def settings_for(base_url: str, tmp_path, **overrides) -> Settings:
    # The row cache in tmp_path whatever the session's environment says (the stack's cache block).
    values = {"gemini_backend": "api_key", "gemini_api_key": "k", "gemini_base_url": base_url, "max_attempts": 4,
              "cache": {"path": str(tmp_path / "cache"), "block": None},
              "taxonomy": {"embed_dimensions": 64, "embed_texts_per_request": 4}}
    return Settings(**(values | overrides))


async def embed_stats(base_url: str) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base_url}/_sim/stats")).json()["embed"]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


async def test_unit_vectors_of_the_configured_size_for_distinct_texts_in_batches(tmp_path):
    async with running_simulator() as url:
        embedder = await open_embedder(settings_for(url, tmp_path))
        vectors = await embedder.embed(THEMES + THEMES[:2])
        counted = await embed_stats(url)
    assert all(len(v) == 64 and math.isclose(math.fsum(x * x for x in v), 1, rel_tol=1e-5) for v in vectors)
    assert vectors[6] == vectors[0] and vectors[7] == vectors[1]  # duplicates: one vector, asked once
    assert (counted["requests"], counted["texts"]) == (2, 6)  # 6 distinct texts, 4 per request
    assert embedder.usage.calls == 2 and embedder.usage.input_tokens == counted["input_tokens"]
    assert cosine(vectors[0], vectors[1]) > 0.5 > cosine(vectors[0], vectors[2])  # the simulator's topics


async def test_a_rerun_takes_every_vector_from_the_row_cache_and_sends_nothing(tmp_path):
    async with running_simulator() as url:
        first = await open_embedder(settings_for(url, tmp_path))
        vectors = await first.embed(THEMES)
        again = GeminiEmbedder(settings_for(url, tmp_path), LocalCache(tmp_path / "cache"))
        reread = await again.embed(list(reversed(THEMES)))
        counted = await embed_stats(url)
    assert reread == list(reversed(vectors))  # bit for bit: the clustering sees the same input
    assert (counted["requests"], again.usage.calls, again.from_cache) == (2, 0, 6)


async def test_another_size_or_model_is_another_cache_entry(tmp_path):
    async with running_simulator() as url:
        await (await open_embedder(settings_for(url, tmp_path))).embed(THEMES[:2])
        wider = await open_embedder(settings_for(url, tmp_path, taxonomy={"embed_dimensions": 128}))
        assert [len(v) for v in await wider.embed(THEMES[:2])] == [128, 128]
        assert (await embed_stats(url))["texts"] == 4
    assert embedding_key("gemini-embedding-001", 64, "a") != embedding_key("gemini-embedding-001", 128, "a")
    # On a storage block, one model's vectors of one size are grouped into a few segment objects.
    assert folder_of(embedding_key("models/gemini-embedding-001", 64, "a")) == "models_gemini-embedding-001/64/texts"


async def test_an_empty_theme_fails_alone_without_a_request(tmp_path):
    async with running_simulator() as url:
        embedder = await open_embedder(settings_for(url, tmp_path))
        vectors = await embedder.embed(["late delivery", "  ", "app crashes"])
        counted = await embed_stats(url)
    assert isinstance(vectors[1], EmbedFailure) and "empty" in str(vectors[1])
    assert all(isinstance(v, list) for v in (vectors[0], vectors[2])) and counted["texts"] == 2


async def test_a_text_the_service_refuses_fails_alone_and_the_rest_of_its_batch_is_embedded(tmp_path):
    too_long = "delivery " * 1000  # over gemini-embedding-001's 2,048 tokens: a 400 for the whole batch
    async with running_simulator() as url:
        embedder = await open_embedder(settings_for(url, tmp_path))
        vectors = await embedder.embed(["late delivery", too_long, "app crashes"])
        counted = await embed_stats(url)
    assert isinstance(vectors[1], EmbedFailure) and str(vectors[1]).startswith("400 INVALID_ARGUMENT")
    assert isinstance(vectors[0], list) and isinstance(vectors[2], list)
    # The batch, then each text alone: the refused one is not retried (a 400 would come again).
    assert (counted["requests"], counted["http_400"], counted["texts"]) == (4, 2, 2)
    assert embedder.failures == {"400 INVALID_ARGUMENT": 1}


async def test_server_errors_are_retried_until_every_text_has_its_vector(tmp_path):
    async with running_simulator(SimConfig(error_rate_500=0.5, seed=3)) as url:
        embedder = await open_embedder(settings_for(url, tmp_path, max_attempts=10))
        vectors = await embedder.embed(THEMES)
        counted = await embed_stats(url)
    assert all(isinstance(v, list) for v in vectors)
    assert counted["http_500"] > 0 and embedder.usage.retries == counted["http_500"]


async def test_when_the_retries_are_spent_each_text_says_why(tmp_path):
    async with running_simulator(SimConfig(error_rate_503=1.0)) as url:
        embedder = await open_embedder(settings_for(url, tmp_path, max_attempts=2))
        vectors = await embedder.embed(THEMES[:2])
    assert all(isinstance(v, EmbedFailure) and "gave up after 2 attempts" in str(v) for v in vectors)


def test_the_embedder_paces_on_the_embedding_quota_not_the_generation_models():
    settings = Settings(gemini_backend="api_key", gemini_api_key="k", rpm=50, tpm=9000, rpd=100,
                        shared_rate_limit="gemini-rpm", taxonomy={"embed_rpm": 3000, "embed_tpm": 1_000_000,
                                                                  "embed_texts_per_request": 100})
    paced = embedding_settings(settings)
    assert (paced.model, paced.rpm, paced.tpm, paced.rpd, paced.shared_rate_limit) == (
        "gemini-embedding-001", 30, 1_000_000, None, None)  # the API counts each text of a batch


@pytest.mark.parametrize(("backend", "expected"), [("api_key", 100), ("vertex", 250)])
def test_texts_per_request_stay_within_the_backends_limit(backend, expected):
    settings = Settings(gemini_backend=backend, gemini_api_key="k", taxonomy={"embed_texts_per_request": 250})
    assert texts_per_request(settings) == expected


@pytest.mark.parametrize("vector", [[0.25, -0.5, 0.125], [1.0] * 256])
def test_cached_vectors_round_trip_in_float32(vector):
    assert decode_vector(encode_vector(vector), len(vector)) == vector
    assert decode_vector(encode_vector(vector), len(vector) + 1) is None
    assert decode_vector("not base64!", 3) is None


async def test_on_vertex_ai_the_answers_token_counts_are_used(tmp_path):
    async with running_simulator() as url:
        settings = settings_for(url, tmp_path, gemini_backend="vertex", gcp_project="local-project", gcp_credentials="anonymous")
        embedder = await open_embedder(settings)
        vectors = await embedder.embed(THEMES)
        counted = await embed_stats(url)
    assert all(len(v) == 64 for v in vectors) and counted["texts"] == 6
    assert embedder.usage.input_tokens == counted["input_tokens"] and embedder.token_source.endswith("(Vertex AI)")
