"""Batch: an asynchronous job at half price that the service finishes within 24 hours.

A run submits the rows it would send as jobs within the service's per-job limits and writes their
output to the sink (tasks/run_inference_job.py, themegen/llm/jobs/). Rows a job leaves missing or invalid go through the online
path at the standard price, hence the request fields; `turnaround_s` bounds how long a job is waited for.
"""

from themegen.tiers.tier import Tier

TIER = Tier(
    name="batch",
    price_factor=0.5,
    synchronous=False,
    expected_latency_s=0.0,
    turnaround_s=24 * 3600.0,
    request_timeout_s=60.0,
    max_attempts=6,
    max_in_flight=256,
    in_flight_cap=256,  # not sized for latency: THEMEGEN_MAX_IN_FLIGHT's default
    summary="one asynchronous job at half price, done within 24 h",
)
