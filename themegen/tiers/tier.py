"""A tier's declared capabilities (one instance per file in this package)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Tier(BaseModel):
    """One way of buying Gemini answers."""

    model_config = ConfigDict(frozen=True)

    name: str
    price_factor: float = Field(gt=0, le=1, description="share of the standard (online) list price paid")
    synchronous: bool = Field(description="answers come back on the request (standard, flex), not from a job")
    best_effort: bool = Field(False, description="the service may shed requests under load (429/503)")
    expected_latency_s: float = Field(ge=0, description="a synchronous request's typical latency")
    turnaround_s: float | None = Field(None, description="an asynchronous job's promised longest turnaround")
    request_timeout_s: float = Field(gt=0, description="per-request timeout unless THEMEGEN_REQUEST_TIMEOUT_S is set")
    max_attempts: int = Field(ge=1, description="attempts per request unless THEMEGEN_MAX_ATTEMPTS is set")
    max_in_flight: int = Field(ge=1, description="open requests per process unless THEMEGEN_MAX_IN_FLIGHT is set")
    in_flight_cap: int = Field(
        ge=1, description="open requests grow to rpm/60 x expected_latency_s, so the quota stays busy when each "
        "request takes minutes, up to this many (max_in_flight here: not grown)")
    backoff_initial_s: float = Field(0.5, gt=0, description="first wait after a retryable error")
    backoff_max_s: float = Field(30, gt=0, description="longest wait between attempts")
    fallback_margin_s: float | None = Field(
        None, description="with THEMEGEN_FLEX_FALLBACK, requests sent when less than this is left before the deadline "
        "go at the standard price instead (None: never)")
    service_tier: str | None = Field(
        None, description="GenerateContentConfig.service_tier sent with each request (None: not sent, the default)")
    vertex_request_type: str | None = Field(
        None, description="Vertex AI's X-Vertex-AI-LLM-Shared-Request-Type header value (None: not sent)")
    available: str | None = Field(None, description="None = usable; otherwise why a run cannot use it yet")
    summary: str = ""
