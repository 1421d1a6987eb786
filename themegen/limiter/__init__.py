"""Pacing Gemini requests: `request_limiter(settings)` (RPM, TPM, AIMD, shared Prefect limits) and
`in_flight_gate(max_in_flight)` (the cap on open requests), one of each per event loop."""

from themegen.limiter.request import RequestLimiter, request_limiter
from themegen.limiter.throttle import in_flight_gate

# Tag of every task that calls Gemini: a Prefect tag concurrency limit on it caps parallel
# batches across all flow runs and workers (`themegen limits apply`).
GEMINI_TAG = "gemini"

__all__ = ["GEMINI_TAG", "RequestLimiter", "in_flight_gate", "request_limiter"]
