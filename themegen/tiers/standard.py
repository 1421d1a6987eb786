"""Standard: online, pay-as-you-go, the list price."""

from themegen.tiers.tier import Tier

TIER = Tier(
    name="standard",
    price_factor=1.0,
    synchronous=True,
    expected_latency_s=2.0,
    request_timeout_s=60.0,
    max_attempts=6,
    max_in_flight=256,
    in_flight_cap=256,  # not sized for latency: THEMEGEN_MAX_IN_FLIGHT's default
    summary="online at the list price; seconds per request",
)
