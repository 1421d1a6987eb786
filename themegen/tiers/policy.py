"""How a run's Gemini requests are sent on its tier: the tier's declared numbers, each overridden
by its THEMEGEN_* setting when one is set (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from themegen.tiers import AUTO, TIERS, Tier, tier_named
from themegen.tiers.choose import in_flight

if TYPE_CHECKING:
    from themegen.config.settings import Settings

VERTEX_REQUEST_TYPE_HEADER = "X-Vertex-AI-LLM-Shared-Request-Type"


class RequestPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    tier: Tier
    timeout_s: float
    max_attempts: int
    max_in_flight: int
    headers: tuple[tuple[str, str], ...] = ()  # hashable: part of the shared client's key


def request_policy(settings: Settings) -> RequestPolicy:
    """The policy of the settings' tier. `auto` not chosen yet (config checks, estimates: countTokens
    only, which no tier bills) gets the standard tier's; a run chooses before it generates."""
    tier = TIERS["standard"] if settings.tier == AUTO else tier_named(settings.tier)
    headers = ()
    if settings.gemini.backend == "vertex" and tier.vertex_request_type:
        headers = ((VERTEX_REQUEST_TYPE_HEADER, tier.vertex_request_type),)
    return RequestPolicy(
        tier=tier,
        timeout_s=settings.request_timeout_s or tier.request_timeout_s,
        max_attempts=settings.max_attempts or tier.max_attempts,
        max_in_flight=in_flight(tier, settings.rpm, settings.max_in_flight),
        headers=headers,
    )


def service_tier(settings: Settings) -> str | None:
    """The request body's service tier (cheap: read for every request's config)."""
    return TIERS[settings.tier].service_tier if settings.tier in TIERS else None
