"""The batch tier within the services' limits, end to end on the local stack: jobs split by the
per-job request limit and run no more at once than allowed (counted by the Gemini simulator), every
row written to Spanner by the jobs' output (counted by SQL), and a rerun that makes no call at all."""

from __future__ import annotations

import math

from flows.generate_themes import generate_themes
from tests.flows.helpers import assert_rows_add_up, distinct_texts, nonempty, source_rows, theme_ids

ROWS = 120


async def test_jobs_split_by_the_request_limit_run_few_at_once_and_write_every_row(stack, monkeypatch):
    stack.clear_outputs()
    stack.sim("config", {"batch_turnaround_s": 0.5})
    monkeypatch.setenv("THEMEGEN_JOBS_MAX_REQUESTS", "15")
    monkeypatch.setenv("THEMEGEN_JOBS_MAX_CONCURRENT", "2")
    rows = source_rows(stack)
    first = sorted(rows)[:ROWS]
    wanted = nonempty(rows, first)

    summary = await generate_themes(rows_limit=ROWS, tier="batch")

    batch = stack.sim("stats")["batch"]
    requests = distinct_texts(rows, wanted)
    assert summary.batch_requests == requests == batch["requests"]
    assert batch["jobs_created"] == summary.inference_jobs == math.ceil(requests / 15) > 2
    assert batch["largest_job_requests"] == 15 and batch["most_jobs_at_once"] == 2
    assert batch["refused_400"] == batch["refused_429"] == 0
    assert theme_ids(stack) == set(wanted)  # every row, leaders and identical texts alike
    assert summary.rows_answered_by_batch == len(wanted) and stack.sim("stats")["requests"] == 0
    assert_rows_add_up(summary)

    again = await generate_themes(rows_limit=ROWS, tier="batch")

    assert stack.sim("stats")["requests"] == 0 and stack.sim("stats")["batch"]["jobs_created"] == batch["jobs_created"]
    assert again.inference_jobs == 0 and again.rows_already_done == len(wanted)  # found done in the sink


async def test_a_job_the_service_has_no_room_for_waits_for_room_instead_of_failing(stack, monkeypatch):
    stack.clear_outputs()
    # The service allows one job at a time (other runs' jobs, say); this run thinks it may have three.
    stack.sim("config", {"batch_turnaround_s": 0.5, "batch_max_concurrent_jobs": 1})
    monkeypatch.setenv("THEMEGEN_JOBS_MAX_REQUESTS", "10")
    monkeypatch.setenv("THEMEGEN_JOBS_MAX_CONCURRENT", "3")
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:30])
    try:
        summary = await generate_themes(rows_limit=30, tier="batch")
    finally:
        stack.sim("config", {"batch_max_concurrent_jobs": 100})

    batch = stack.sim("stats")["batch"]
    assert batch["refused_429"] > 0 and batch["most_jobs_at_once"] == 1
    assert batch["jobs_created"] == summary.inference_jobs >= 2
    assert theme_ids(stack) == set(wanted) and stack.sim("stats")["requests"] == 0
