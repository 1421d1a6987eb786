"""Cluster names from Gemini (taxonomy.Namer): the generator's client, limiter, in-flight gate and
retries (a GeminiGenerator whose requests carry the naming instruction and clusters instead of rows),
several clusters per request, on the standard tier (a few hundred clusters are not worth a batch
job's day), with the naming model (THEMEGEN_TAXONOMY_NAME_MODEL, default THEMEGEN_MODEL)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from google.genai import errors, types
from tenacity import RetryError

from themegen.config.settings import Settings
from themegen.domain.prompt import InvalidAnswer
from themegen.domain.stop import RunStop, RunStopped
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.taxonomy import ClusterName, ClusterToName, InvalidName
from themegen.taxonomy.naming import NAMES_JSON_SCHEMA, NAMING_INSTRUCTION, naming_content, parse_names

# Room for a thinking model's thoughts and about 30 tokens of names per cluster.
MAX_OUTPUT_TOKENS = 8_192
# Clusters per request: enough to share the instruction's tokens, few enough that one bad answer
# costs little and the members of each stay in the model's focus.
CLUSTERS_PER_REQUEST = 20


@lru_cache(maxsize=1)
def naming_config() -> types.GenerateContentConfig:
    # Thinking left to the model, as the judge's: some models cannot turn it off; its tokens count as output.
    return types.GenerateContentConfig(system_instruction=NAMING_INSTRUCTION, temperature=0.0,
                                       max_output_tokens=MAX_OUTPUT_TOKENS, response_mime_type="application/json",
                                       response_json_schema=NAMES_JSON_SCHEMA)


class GeminiNamer(GeminiGenerator):
    contents = staticmethod(naming_content)

    def __init__(self, settings: Settings, stop: RunStop | None = None) -> None:
        model = settings.taxonomy.name_model or settings.model
        super().__init__(settings.with_overrides(model=model, tier="standard"), stop)

    async def name(self, clusters: list[ClusterToName]) -> dict[str, ClusterName | InvalidName]:
        """Each cluster's names by id, or why it has none; never raises for the model's errors."""
        packs = [clusters[i:i + CLUSTERS_PER_REQUEST] for i in range(0, len(clusters), CLUSTERS_PER_REQUEST)]
        named: dict[str, ClusterName | InvalidName] = {}
        for answers in await asyncio.gather(*(self._name_pack(pack) for pack in packs)):
            named |= answers
        return named

    async def _name_pack(self, clusters: list[ClusterToName]) -> dict[str, ClusterName | InvalidName]:
        attempts = [0]
        try:
            reply = await self._send_with_backoff(clusters, naming_config(), attempts)
        except (RunStopped, RetryError, errors.APIError, InvalidAnswer) as exc:
            last = exc.last_attempt.exception() if isinstance(exc, RetryError) else exc
            reason = InvalidName(f"{type(last).__name__}: {str(last)[:200]}")
            return {cluster.id: reason for cluster in clusters}
        return parse_names(reply.text, clusters)
