"""What Gemini tokens cost: a per-model price table and the arithmetic on it (pure).

Prices are USD per 1M tokens, text in / text out, Standard (online, pay-as-you-go) tier. Output
prices include thinking tokens (this pipeline sets thinking_budget=0, so there are none).

Sources, taken 2026-11-25 (update the tables below and this date together):
- Gemini API: https://ai.google.dev/gemini-api/docs/pricing . That page could not be fetched from
  here; the figures are from transcriptions of it dated 2026-09-20 and 2026-10-07 (github.com/
  api-evangelist/gemini and api-evangelist/deepmind, plans/*-pricing.yml), and agree with several
  other copies for the 2.x models.
- Vertex AI: https://cloud.google.com/vertex-ai/generative-ai/pricing , via copies of that page
  (e.g. a Vertex cost table "updated January 2026", a billing-CSV table "verified April 2026").

Vertex AI and the Gemini API list the same prices for Gemini 2.5 Flash, Flash-Lite and Pro. They
differ for Gemini 2.0 Flash (Vertex $0.15 / $0.60, Gemini API $0.10 / $0.40), so prices are looked
up per backend. No Vertex copy of the Gemini 3.8 Flash price was found, so on Vertex it is unknown
(None) rather than assumed.

gemini-embedding-001 (the taxonomy's embeddings): $0.15 per 1M input tokens on both backends (Google's
launch post for the Gemini API, and copies of both pricing pages), no output tokens.

Other tiers (Flex, Batch) are priced as a share of these standard prices, declared by each tier in
themegen/tiers/ (`price_factor`). Not modelled: Gemini 2.5 Pro charges more for prompts over 200k
tokens, which THEMEGEN_MAX_INPUT_CHARS keeps us far below.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Backend = Literal["vertex", "api_key"]


class Price(BaseModel):
    """USD per 1M text tokens for one model on one backend."""

    model_config = ConfigDict(frozen=True)

    input_usd_per_m: float = Field(ge=0)
    output_usd_per_m: float = Field(ge=0)
    until: date | None = Field(None, description="last day of a time-limited (introductory) price")


def _p(input_usd: float, output_usd: float, until: date | None = None) -> tuple[Price, ...]:
    return (Price(input_usd_per_m=input_usd, output_usd_per_m=output_usd, until=until),)


# backend -> base model name -> prices in date order (the first whose `until` has not passed applies).
PRICES: dict[Backend, dict[str, tuple[Price, ...]]] = {
    "api_key": {
        "gemini-2.5-flash": _p(0.30, 2.50),
        "gemini-2.5-flash-lite": _p(0.10, 0.40),
        "gemini-2.5-pro": _p(1.25, 10.00),  # prompts <= 200k tokens
        "gemini-2.0-flash": _p(0.10, 0.40),
        # The current Flash model: an introductory price through 2026-12-31, then the list price.
        "gemini-3.8-flash": _p(0.75, 3.75, until=date(2026, 12, 31)) + _p(1.50, 7.50),
    },
    "vertex": {
        "gemini-2.5-flash": _p(0.30, 2.50),
        "gemini-2.5-flash-lite": _p(0.10, 0.40),
        "gemini-2.5-pro": _p(1.25, 10.00),  # prompts <= 200k tokens
        "gemini-2.0-flash": _p(0.15, 0.60),
    },
}
# Embedding models (the taxonomy's theme vectors) bill input tokens only; apart from PRICES, which lists
# the models a run could generate themes with (the estimate compares them). The batch price is half.
EMBEDDING_PRICES: dict[Backend, dict[str, tuple[Price, ...]]] = {
    "api_key": {"gemini-embedding-001": _p(0.15, 0.0)},
    "vertex": {"gemini-embedding-001": _p(0.15, 0.0)},
}

# Stable releases carry a version suffix ("gemini-2.0-flash-001", "...@001"); they bill as the base
# model. Previews ("-preview-05-20") are left alone: their prices are not in the table.
_VERSION_SUFFIX = re.compile(r"[-@]\d{3}$")


def base_model(model: str) -> str:
    """'publishers/google/models/gemini-2.5-flash-001' -> 'gemini-2.5-flash' (pure)."""
    return _VERSION_SUFFIX.sub("", model.strip().rsplit("/", 1)[-1].lower())


def priced_models(backend: Backend = "api_key") -> list[str]:
    return list(PRICES[backend])


def price_for(model: str, *, backend: Backend = "api_key", on: date | None = None) -> Price | None:
    """The price of `model` on `backend` on day `on` (default today), or None when not in the table."""
    # A model whose name ends like a version ("gemini-embedding-001") is looked up whole first.
    table = PRICES[backend] | EMBEDDING_PRICES[backend]
    prices = table.get(model.strip().rsplit("/", 1)[-1].lower()) or table.get(base_model(model), ())
    day = on or date.today()
    return next((p for p in prices if p.until is None or day <= p.until), None)


def cost_usd(model: str, input_tokens: int, output_tokens: int, *, backend: Backend = "api_key",
             on: date | None = None, price_factor: float = 1.0) -> float | None:
    """USD for the tokens at `price_factor` x the standard price (a tier's), or None when the
    model's price is unknown (never a guessed price)."""
    price = price_for(model, backend=backend, on=on)
    if price is None:
        return None
    standard = (input_tokens * price.input_usd_per_m + output_tokens * price.output_usd_per_m) / 1_000_000
    return standard * price_factor


def tier_cost_usd(model: str, input_tokens: int, output_tokens: int, *, price_factor: float,
                  fallback_input_tokens: int = 0, fallback_output_tokens: int = 0, backend: Backend = "api_key",
                  on: date | None = None) -> float | None:
    """USD for a run on a tier at `price_factor`, of whose tokens the fallback ones were sent at the
    standard price (flex requests sent when the deadline neared); None when the price is unknown."""
    on_tier = cost_usd(model, input_tokens - fallback_input_tokens, output_tokens - fallback_output_tokens,
                       backend=backend, on=on, price_factor=price_factor)
    fell_back = cost_usd(model, fallback_input_tokens, fallback_output_tokens, backend=backend, on=on)
    return None if on_tier is None or fell_back is None else on_tier + fell_back
