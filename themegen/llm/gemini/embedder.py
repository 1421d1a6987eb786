"""Theme vectors from Gemini embeddings (taxonomy.Embedder): the generator's client, in-flight gate,
retries and backoff (a GeminiGenerator whose one call is embed_content), paced on the embedding
model's own quota, with every vector kept in the row cache so a rerun embeds nothing again.

- Requests: `embed_texts_per_request` distinct texts per batchEmbedContents (at most the backend's
  limit), task CLUSTERING, at `embed_dimensions`. The Gemini API counts each text of a batch as one
  request against the RPM, so the limiter paces requests at embed_rpm / texts per request.
- Vectors are normalized here: Google's docs say only the full 3,072-dimension embedding is; a
  shorter (Matryoshka) one is a prefix of it.
- Tokens: the Gemini API's answer carries no token count, so input tokens are the approximation
  (4 Latin characters or 1 CJK character per token, `token_source` says so); Vertex AI's answer
  gives a count per text, used when present.
- A failed text gets an EmbedFailure with the reason (counted by the taxonomy, never forced): a
  request refused as invalid (400) is asked again one text per request, so one bad text fails alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
from array import array
from collections import Counter

from google.genai import errors, types
from tenacity import RetryError

from themegen.cache import CachedAnswer, CacheReadError, RowCache
from themegen.config.settings import Settings
from themegen.domain.stop import RunStop, RunStopped
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.pricing.estimate import approx_tokens
from themegen.taxonomy import EmbedFailure, Vector

TASK_TYPE = "CLUSTERING"
# Texts one batchEmbedContents request may carry: the Gemini API refuses more than 100 (400
# INVALID_ARGUMENT), Vertex AI more than 250.
MAX_TEXTS_PER_REQUEST = {"api_key": 100, "vertex": 250}


def texts_per_request(settings: Settings) -> int:
    """THEMEGEN_TAXONOMY_EMBED_TEXTS_PER_REQUEST, within what the backend accepts."""
    return min(settings.taxonomy.embed_texts_per_request, MAX_TEXTS_PER_REQUEST[settings.gemini.backend])


def embedding_settings(settings: Settings) -> Settings:
    """The settings a request of the embedder goes out with: the embedding model on the standard tier,
    paced on its own quota (never the generation model's shared limits or day budget)."""
    taxonomy = settings.taxonomy
    return settings.with_overrides(model=taxonomy.embed_model, tier="standard").model_copy(update={
        "rpm": max(1, taxonomy.embed_rpm // texts_per_request(settings)), "tpm": taxonomy.embed_tpm,
        "rpd": None, "tpd": None, "shared_rate_limit": None, "shared_token_limit": None})


def embedding_key(model: str, dimensions: int, text: str) -> str:
    """The row-cache key of a text's vector: three folders after the kind, like a generation's, so the
    grouped cache (themegen/cache/segments) keeps one model's vectors of one size in a few segments."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in model)
    return f"embeddings/{safe}/{dimensions}/texts/{digest[:2]}/{digest}"


def encode_vector(vector: Vector) -> str:
    """float32, base64: a quarter of the JSON size, and what the vector holds anyway."""
    return base64.b64encode(array("f", vector).tobytes()).decode()


def decode_vector(raw: str, dimensions: int) -> Vector | None:
    """The cached vector, None when it is not one of `dimensions` values (then it is asked again)."""
    try:
        values = array("f", base64.b64decode(raw, validate=True))
    except (ValueError, TypeError):
        return None
    return values.tolist() if len(values) == dimensions else None


def unit(values: list[float], dimensions: int) -> Vector | EmbedFailure:
    """The answer's values as a unit vector in float32 precision, the precision the cache keeps, so a
    rerun's vectors from the cache equal the first run's exactly (pure); or why they cannot be one."""
    if len(values) != dimensions:
        return EmbedFailure(f"the answer had {len(values)} values, not {dimensions}")
    norm = math.sqrt(math.fsum(v * v for v in values))
    if not norm or not math.isfinite(norm):
        return EmbedFailure("the answer was a zero or non-finite vector")
    return array("f", [v / norm for v in values]).tolist()


class GeminiEmbedder(GeminiGenerator):
    """One per taxonomy step; the client and limiter are shared per event loop like the generator's."""

    def __init__(self, settings: Settings, cache: RowCache | None = None, stop: RunStop | None = None) -> None:
        self.taxonomy = settings.taxonomy
        self.texts_per_request = texts_per_request(settings)
        super().__init__(embedding_settings(settings), stop)
        self.cache = cache
        self.dimensions = self.taxonomy.embed_dimensions
        self.embed_config = types.EmbedContentConfig(output_dimensionality=self.dimensions, task_type=TASK_TYPE)
        self.from_cache = 0  # texts whose vector came from the row cache (no request)
        self.failures: Counter[str] = Counter()  # texts without a vector, by reason
        self.token_source = "approximation: 4 Latin chars or 1 CJK char per token (the answer has no count)"

    async def embed(self, texts: list[str]) -> list[Vector | EmbedFailure]:
        keys = {text: embedding_key(self.settings.model, self.dimensions, text) for text in dict.fromkeys(texts)}
        found: dict[str, Vector | EmbedFailure] = {
            text: EmbedFailure("an empty theme has no meaning to embed") for text in keys if not text.strip()}
        found |= await self._cached({t: k for t, k in keys.items() if t not in found})
        self.from_cache += sum(isinstance(v, list) for v in found.values())
        missing = [text for text in keys if text not in found]
        size = self.texts_per_request
        packs = [missing[i:i + size] for i in range(0, len(missing), size)]
        for pack, answers in zip(packs, await asyncio.gather(*(self._embed_pack(p) for p in packs))):
            for text, answer in zip(pack, answers, strict=True):
                found[text] = answer
                if isinstance(answer, EmbedFailure):
                    self.failures[str(answer).split(":")[0][:80]] += 1
                elif self.cache is not None:
                    await self._keep(keys[text], answer)
        return [found[text] for text in texts]

    async def _cached(self, keys: dict[str, str]) -> dict[str, Vector]:
        if self.cache is None or not keys:
            return {}
        try:
            hits = await self.cache.get_many(list(keys.values()))
        except CacheReadError:
            return {}  # embedded again: a vector costs far less than failing the taxonomy
        vectors = {text: decode_vector(hits[key].raw_text, self.dimensions)
                   for text, key in keys.items() if key in hits}
        return {text: vector for text, vector in vectors.items() if vector is not None}

    async def _keep(self, key: str, vector: Vector) -> None:
        try:
            await self.cache.put(key, CachedAnswer(raw_text=encode_vector(vector)))
        except Exception:  # noqa: BLE001 - a cache write failure costs a re-embedding, no more
            self.failures["cache write (vector kept for this run)"] += 1

    async def _embed_pack(self, pack: list[str]) -> list[Vector | EmbedFailure]:
        attempts = [0]
        try:
            return await self._send_with_backoff(pack, self.embed_config, attempts)
        except errors.ClientError as exc:
            if exc.code == 400 and len(pack) > 1:  # one bad text must not cost the others their vectors
                alone = await asyncio.gather(*(self._embed_pack([text]) for text in pack))
                return [answer for answers in alone for answer in answers]
            return [EmbedFailure(f"{exc.code} {exc.status}: {str(exc.message)[:200]}")] * len(pack)
        except (RunStopped, RetryError, errors.APIError) as exc:
            last = exc.last_attempt.exception() if isinstance(exc, RetryError) else exc
            what = f"gave up after {attempts[0]} attempts: " if isinstance(exc, RetryError) else ""
            return [EmbedFailure(f"{what}{type(last).__name__}: {str(last)[:200]}")] * len(pack)

    async def _send(self, texts: list[str], config: types.EmbedContentConfig) -> list[Vector | EmbedFailure]:
        """One embed_content request (the generator's _send for embeddings): paced, counted, and its 429s
        slow the limiter or stop the run for the day as a generation request's do."""
        chars = sum(len(t) for t in texts)
        response = await self._on_the_wire(chars, lambda: self.client.aio.models.embed_content(
            model=self.settings.model, contents=texts, config=config))
        self.limiter.on_success()
        embeddings = list(response.embeddings or [])
        vectors: list[Vector | EmbedFailure] = [unit(list(e.values or []), self.dimensions) for e in embeddings]
        vectors += [EmbedFailure("the answer had no embedding for this text")] * (len(texts) - len(vectors))
        tokens = 0
        for text, embedding in zip(texts, embeddings + [None] * len(texts)):
            counted = embedding.statistics.token_count if embedding and embedding.statistics else None
            if counted:
                self.token_source = "the answer's token counts (Vertex AI)"
            tokens += int(counted) if counted else approx_tokens(text)
        self.limiter.observe(chars, tokens)
        self.usage.input_tokens += tokens
        return vectors[:len(texts)]
