"""Per-job limits: each unset one at the documented default of the backend in use."""

from themegen.config.settings import Settings
from themegen.llm.jobs.settings import job_limits


def test_each_backend_has_its_documented_defaults_and_settings_override_them():
    vertex = job_limits(Settings().jobs, "vertex", "gemini-2.5-flash")
    assert (vertex.max_requests, vertex.max_concurrent, vertex.max_tokens) == (200_000, 8, None)
    api = job_limits(Settings().jobs, "api_key", "gemini-2.5-flash")
    assert (api.max_requests, api.max_bytes, api.max_concurrent) == (None, 1_900_000_000, 100)
    assert api.max_tokens == 2_700_000  # Tier 1's 3,000,000 less the 10% kept for the estimate's error
    given = Settings(jobs_max_requests=50, jobs_max_concurrent=2, jobs_max_enqueued_tokens=1_000, jobs_token_headroom=0)
    limits = job_limits(given.jobs, "api_key", "gemini-2.5-pro")
    assert (limits.max_requests, limits.max_concurrent, limits.max_tokens) == (50, 2, 1_000)
