"""The simulator's embeddings (batchEmbedContents, embedContent), driven by the real google-genai client:
vectors where one topic's paraphrases and translations lie close, the service's limits as 400s and
429s, and counters kept apart from generation's."""

from collections import Counter
from itertools import combinations

import google.oauth2.credentials
import numpy as np
import pytest
from google import genai
from google.genai import errors, types

from local_stack.gemini_sim import SimConfig, derive_themes, running_simulator, topic_of_theme
from local_stack.gemini_sim.topics import area_labels, label_topics
from local_stack.gemini_sim.vectors import FAMILY
from local_stack.sample_data import NEW_TOPICS, generate_rows

MODEL = "gemini-embedding-001"
CLUSTERING = types.EmbedContentConfig(output_dimensionality=256, task_type="CLUSTERING")
AREAS = sorted({area for area in label_topics().values() if area != "generic"})


async def configure(sim, **knobs) -> None:
    async with sim[1].post("/_sim/config", json=knobs) as response:
        assert response.status == 200, await response.text()


async def stats(sim) -> dict:
    async with sim[1].get("/_sim/stats") as response:
        return await response.json()


async def embed(client, texts, config=CLUSTERING) -> np.ndarray:
    response = await client.aio.models.embed_content(model=MODEL, contents=texts, config=config)
    return np.array([e.values for e in response.embeddings])


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def test_one_vector_per_text_in_order_a_prefix_of_the_full_unit_vector(sim, client):
    texts = ["late delivery", "アプリのクラッシュ", "billing errors"]
    short = await embed(client, texts)
    full = await embed(client, texts, types.EmbedContentConfig(task_type="CLUSTERING"))
    assert short.shape == (3, 256) and full.shape == (3, 3072)
    assert np.allclose(np.linalg.norm(full, axis=1), 1, atol=1e-5)
    # Below 3,072 dimensions the model's vector is a prefix, not normalized again (Google's docs).
    assert np.allclose(short, full[:, :256], atol=1e-6) and (np.linalg.norm(short, axis=1) < 0.9).all()
    counted = (await stats(sim))["embed"]
    assert (counted["requests"], counted["ok"], counted["texts"]) == (2, 2, 6) and counted["input_tokens"] > 0


async def test_the_same_text_gives_the_same_vector_in_every_simulator(sim, client):
    first = await embed(client, ["配送の遅れ", "late delivery"])
    async with running_simulator(SimConfig(seed=7)) as other_url:
        other = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=other_url))
        again = await embed(other, ["late delivery", "配送の遅れ"])
        await other.aio.aclose()
    assert np.array_equal(first, again[::-1])


async def test_paraphrases_and_translations_of_a_topic_lie_closer_than_any_other_topic(client):
    labels = [(area, label) for area in AREAS for lang in ("en", "ja") for label in area_labels(area)[lang]]
    vectors = unit(await embed(client, [label for _, label in labels]))
    similarity = vectors @ vectors.T
    pairs = list(combinations(range(len(labels)), 2))
    same = [similarity[i, j] for i, j in pairs if labels[i][0] == labels[j][0]]
    # Related topics (one family: the app's, orders', money's) lie closer than unrelated ones, as a coarser
    # level of themes needs, but never as close as a topic's own paraphrases and translations.
    family = [FAMILY.get(area, area) for area, _ in labels]  # a topic of no family is its own
    related = [similarity[i, j] for i, j in pairs if labels[i][0] != labels[j][0] and family[i] == family[j]]
    unrelated = [similarity[i, j] for i, j in pairs if family[i] != family[j]]
    assert min(same) > max(related) and min(same) > max(unrelated) + 0.4
    assert np.mean(related) > np.mean(unrelated) + 0.4
    # A phrase lifted from a topic's sentences, and free wording with its signal words, join it too.
    lifted, free, crash = unit(await embed(client, ["courier", "parcel never came", "app crashes"]))
    assert lifted @ free > 0.5 and lifted @ crash < 0.3


async def test_a_theme_of_no_known_topic_is_far_from_every_topic(client):
    assert topic_of_theme("quantum chromodynamics") is None
    vectors = unit(await embed(client, ["quantum chromodynamics"] + [area_labels(a)["en"][0] for a in AREAS]))
    assert (vectors[1:] @ vectors[0] < 0.2).all()


def test_the_ground_truth_knows_the_topic_of_nearly_every_theme_mention():
    mentions = Counter(theme for row in generate_rows(2000, seed=4) if row["text"] and row["text"].strip()
                       for theme in derive_themes(row["text"]))
    known = sum(n for theme, n in mentions.items() if topic_of_theme(theme) is not None)
    assert known / mentions.total() > 0.95
    assert {topic_of_theme(area_labels(a)[lang][1]) for a in AREAS for lang in ("en", "ja")} == set(AREAS)


def test_rows_of_a_new_topic_have_themes_of_that_topic():
    topics = Counter(topic_of_theme(theme) for row in generate_rows(200, seed=2, topics=NEW_TOPICS)
                     if row["text"] and row["text"].strip() for theme in derive_themes(row["text"]))
    assert topics.most_common(1)[0][0] == "gift_wrapping" and topics["gift_wrapping"] > 0.5 * topics.total()


async def test_more_than_100_texts_in_one_batch_is_invalid(sim, client):
    with pytest.raises(errors.ClientError) as refused:
        await embed(client, [f"theme {i}" for i in range(101)])
    assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT")
    assert "at most 100 requests can be in one batch" in refused.value.message
    assert len(await embed(client, [f"theme {i}" for i in range(100)])) == 100
    counted = await stats(sim)
    assert (counted["embed"]["http_400"], counted["http_400"]) == (1, 0)  # apart from generation's


async def test_a_text_over_2048_tokens_is_invalid_on_the_gemini_api_and_truncated_on_vertex(sim, client):
    long_text = "delivery " * 1000  # about 2,250 tokens
    with pytest.raises(errors.ClientError) as refused:
        await embed(client, ["late delivery", long_text])
    assert refused.value.code == 400 and "requests[1].content" in refused.value.message
    vertex = genai.Client(vertexai=True, project="p", location="us-central1",
                          credentials=google.oauth2.credentials.Credentials(token="local"),
                          http_options=types.HttpOptions(base_url=sim[0]))
    response = await vertex.aio.models.embed_content(model=MODEL, contents=["late delivery", long_text], config=CLUSTERING)
    assert [e.statistics.truncated for e in response.embeddings] == [False, True]
    with pytest.raises(errors.ClientError) as too_many:
        await vertex.aio.models.embed_content(model=MODEL, contents=[f"t{i}" for i in range(251)], config=CLUSTERING)
    assert too_many.value.code == 400 and "at most 250" in too_many.value.message
    await vertex.aio.aclose()


async def test_the_embedding_quota_counts_each_text_and_answers_a_real_429(sim, client):
    await configure(sim, embed_rpm=150, rpm=1)
    await embed(client, [f"theme {i}" for i in range(100)])
    with pytest.raises(errors.ClientError) as refused:
        await embed(client, [f"theme {i}" for i in range(51)])
    assert (refused.value.code, refused.value.status) == (429, "RESOURCE_EXHAUSTED")
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in refused.value.details["error"]["details"]}
    violation = details["QuotaFailure"]["violations"][0]
    assert (violation["quotaId"], violation["quotaValue"]) == ("EmbedContentRequestsPerMinutePerProjectPerModel", "150")
    assert 55 < float(details["RetryInfo"]["retryDelay"].rstrip("s")) <= 60
    assert len(await embed(client, [f"theme {i}" for i in range(50)])) == 50  # what is left of the minute
    counted = await stats(sim)
    assert (counted["embed"]["http_429"], counted["http_429"], counted["requests"]) == (1, 0, 0)


async def test_the_token_quota_refuses_a_batch_over_it(sim, client):
    await configure(sim, embed_tpm=20)
    with pytest.raises(errors.ClientError) as refused:
        await embed(client, ["a theme of a good many words " * 4])
    assert refused.value.code == 429 and "EmbedContentInputTokens" in str(refused.value.details)


async def test_transient_server_errors_at_the_configured_rates(sim, client):
    await configure(sim, error_rate_503=1.0)
    with pytest.raises(errors.ServerError) as failed:
        await embed(client, ["late delivery"])
    assert failed.value.code == 503
    counted = await stats(sim)
    assert (counted["embed"]["http_503"], counted["http_503"]) == (1, 0)


async def test_embed_content_answers_one_embedding(sim):
    body = {"content": {"parts": [{"text": "late delivery"}]}, "taskType": "CLUSTERING", "outputDimensionality": 8}
    async with sim[1].post(f"/v1beta/models/{MODEL}:embedContent", json=body) as response:
        answer = await response.json()
        assert response.headers["x-themegen-simulated"] == "true"
    assert len(answer["embedding"]["values"]) == 8
    bad = {**body, "taskType": "SOMETHING"}
    async with sim[1].post(f"/v1beta/models/{MODEL}:embedContent", json=bad) as response:
        assert response.status == 400
