"""The embedding routes google-genai calls for `client.aio.models.embed_content(...)`:

- Gemini API: models/{model}:batchEmbedContents, body {"requests": [{"model", "content", "taskType",
  "outputDimensionality"}]}, answer {"embeddings": [{"values"}]} (google-genai sends every list there);
  models/{model}:embedContent, one "content", answer {"embedding": {"values"}};
- Vertex AI: the same two methods under publishers/google/models/, the options in "embedContentConfig"
  and, per text, "statistics" with its token count.

Enforced as the service does: the texts per batch (100 on the Gemini API; 250 and 20,000 tokens on
Vertex AI) and the tokens per text (2,048 for gemini-embedding-001: a 400 on the Gemini API; Vertex AI truncates unless
autoTruncate is false), both 400 INVALID_ARGUMENT; the embedding quota (embed_rpm, each text counting
as one request as the Gemini API counts a batch, and embed_tpm) with a real 429 RESOURCE_EXHAUSTED;
transient 500/503 at the configured error rates. Counted in Stats.embed, apart from generation's.
The vectors are vectors.py's (deterministic, topic-aware): simulated, never a model's.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

from aiohttp import web

from . import replies
from .answers import content_texts
from .state import SIMULATOR, Simulator
from .tokens import approx_tokens
from .vectors import DIMENSIONS, embedding_values

VERTEX_MAX_TEXTS = 250
VERTEX_MAX_REQUEST_TOKENS = 20_000
_TASK_TYPES = {"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY",
               "CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY"}


class BadRequest(ValueError):
    """The request breaks a documented limit or shape: answered 400 INVALID_ARGUMENT with this text."""


def _options(item: dict[str, Any], vertex: bool) -> dict[str, Any]:
    config = item.get("embedContentConfig") if vertex else item
    return config if isinstance(config, dict) else {}


def _read(sim: Simulator, body: dict[str, Any], model: str, batch: bool, vertex: bool) -> tuple[list[str], int]:
    """(texts, dimensions) of a well-formed request; raises BadRequest naming what is wrong."""
    where = "BatchEmbedContentsRequest.requests" if batch else "EmbedContentRequest"
    items = body.get("requests") if batch else [body]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise BadRequest(f"* {where}: must be a non-empty list of EmbedContentRequest objects")
    most = VERTEX_MAX_TEXTS if vertex else sim.config.embed_max_texts
    if len(items) > most:
        raise BadRequest(f"* {where}: at most {most} requests can be in one batch")
    texts: list[str] = []
    dimensions = DIMENSIONS
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if batch else where
        named = item.get("model")
        if batch and not vertex and named is not None and str(named).rsplit("/", 1)[-1] != model:
            raise BadRequest(f"* {at}.model: must match the batch's model models/{model}, not {named}")
        text = "\n".join(content_texts(item.get("content")))
        if not text.strip():
            raise BadRequest(f"* {at}.content: must have a non-empty text part")
        options = _options(item, vertex)
        task = options.get("taskType", "TASK_TYPE_UNSPECIFIED")
        if task not in _TASK_TYPES:
            raise BadRequest(f"* {at}.task_type: invalid value {task!r}")
        wanted = options.get("outputDimensionality", DIMENSIONS)
        if not isinstance(wanted, int) or not 1 <= wanted <= DIMENSIONS:
            raise BadRequest(f"* {at}.output_dimensionality: must be between 1 and {DIMENSIONS}, not {wanted}")
        dimensions = wanted if index == 0 else dimensions
        tokens, limit = approx_tokens(text), sim.config.embed_max_text_tokens
        if tokens > limit and not (vertex and options.get("autoTruncate", True)):
            raise BadRequest(f"* {at}.content: the input of about {tokens} tokens exceeds the limit of {limit} "
                             "tokens per text")
        texts.append(text)
    if vertex and (total := sum(approx_tokens(t) for t in texts)) > VERTEX_MAX_REQUEST_TOKENS:
        raise BadRequest(f"* {where}: about {total} input tokens, more than {VERTEX_MAX_REQUEST_TOKENS} per request")
    return texts, dimensions


def _embedding(text: str, dimensions: int, vertex: bool, limit: int) -> dict[str, Any]:
    found: dict[str, Any] = {"values": embedding_values(text, dimensions)}
    if vertex:
        tokens = approx_tokens(text)
        found["statistics"] = {"token_count": min(tokens, limit), "truncated": tokens > limit}
    return found


async def _embed(request: web.Request, batch: bool, vertex: bool) -> web.Response:
    sim = request.app[SIMULATOR]
    stats = sim.stats.embed
    stats.requests += 1
    if (rejected := replies.bad_api_key(sim, request, stats)) is not None:
        return rejected
    body = await replies.read_json(request)
    if body is None:
        return replies.invalid_argument(sim, "Invalid JSON payload received.", stats)
    model = request.match_info["model"]
    try:
        texts, dimensions = _read(sim, body, model, batch, vertex)
    except BadRequest as bad:
        return replies.invalid_argument(sim, str(bad), stats)
    limit = sim.config.embed_max_text_tokens
    tokens = sum(min(approx_tokens(t), limit) for t in texts)
    # Checked before any latency, because the real API rejects fast; only admitted calls count.
    now = time.monotonic()
    if (violation := sim.embed_quota.check(now, tokens, sim.config, len(texts))) is not None:
        return replies.quota_error(sim, model, violation, stats)
    sim.embed_quota.record(now, tokens, sim.config, len(texts))
    if sim.config.embed_latency_s:
        await asyncio.sleep(sim.config.embed_latency_s)
    if sim.chance(sim.config.error_rate_500):
        return replies.internal(sim, stats)
    if sim.chance(sim.config.error_rate_503):
        return replies.overloaded(sim, stats)
    embeddings = [_embedding(text, dimensions, vertex, limit) for text in texts]
    stats.ok += 1
    stats.texts += len(texts)
    stats.input_tokens += tokens
    # The Gemini API's answer carries no token count (Vertex AI's: per text, in statistics).
    if batch:
        return replies.json_response(200, {"embeddings": embeddings})
    usage = {"usageMetadata": {"promptTokenCount": tokens}} if vertex else {}
    return replies.json_response(200, {"embedding": embeddings[0], **usage})


def add_routes(app: web.Application, model_path: str, vertex_path: str) -> None:
    for path, vertex in ((model_path, False), (vertex_path, True)):
        for method, batch in (("batchEmbedContents", True), ("embedContent", False)):
            app.router.add_post(f"/{path}:{method}", partial(_embed, batch=batch, vertex=vertex))
