"""Pacing Gemini requests: `request_limiter(settings)` (RPM, TPM, AIMD, shared Prefect limits) and
`in_flight_gate(max_in_flight)` (the cap on open requests), one of each per event loop; and
`BatchSlot`, a batch's slot of the `gemini` tag limit (the cap on batches sending at once, across
all flow runs and workers: `themegen limits apply`)."""

from themegen.limiter.batch_slot import GEMINI_LIMIT, GEMINI_TAG, BatchSlot, BatchSlotError, SlotPool, slot_pool
from themegen.limiter.request import RequestLimiter, request_limiter
from themegen.limiter.throttle import in_flight_gate

__all__ = ["GEMINI_LIMIT", "GEMINI_TAG", "BatchSlot", "BatchSlotError", "RequestLimiter", "SlotPool",
           "in_flight_gate", "request_limiter", "slot_pool"]
