"""Pacing Gemini requests: `request_limiter(settings)` (RPM, TPM, AIMD, shared Prefect limits) and
`in_flight_gate(max_in_flight)` (the cap on open requests), one of each per event loop."""

from themegen.limiter.request import RequestLimiter, request_limiter
from themegen.limiter.throttle import in_flight_gate

__all__ = ["RequestLimiter", "in_flight_gate", "request_limiter"]
