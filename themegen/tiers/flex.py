"""Flex: the online path at half price, best effort (Gemini API `service_tier: flex`; Vertex AI's
`X-Vertex-AI-LLM-Shared-Request-Type: flex` header on the global endpoint).

Requests may take minutes and be shed under load with 429 or 503, so: a long timeout (Vertex AI
allows up to 30 minutes), enough requests in flight to keep the quota busy at that latency, more
attempts, and waits that grow to minutes rather than hammering a shedding service. When the deadline
nears, the requests still to send go at the standard price (THEMEGEN_FLEX_FALLBACK).
"""

from themegen.tiers.tier import Tier

TIER = Tier(
    name="flex",
    price_factor=0.5,
    synchronous=True,
    best_effort=True,
    expected_latency_s=120.0,
    request_timeout_s=900.0,
    max_attempts=10,
    max_in_flight=256,
    in_flight_cap=2_048,
    backoff_initial_s=5.0,
    backoff_max_s=300.0,
    fallback_margin_s=300.0,  # a request sent later would likely answer after the deadline
    service_tier="flex",
    vertex_request_type="flex",
    summary="online at half price, best effort: minutes per request, may be shed (429/503)",
)
