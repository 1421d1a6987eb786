"""Job records in the row cache (SQLite here, as on one machine): kept, found again, listed per flow run."""

from __future__ import annotations

from datetime import UTC, datetime

from themegen.cache import CachedAnswer
from themegen.cache.sqlite.client import LocalCache
from themegen.llm.jobs.record import (
    JobRecord,
    add_run_job,
    load_record,
    run_jobs,
    save_record,
)


async def test_a_record_is_found_by_its_key_after_the_cache_is_opened_again(tmp_path):
    record = JobRecord(job="batches/abc", display_name="themegen aa", requests=12,
                       submitted_at=datetime(2026, 11, 29, tzinfo=UTC))
    await save_record(LocalCache(tmp_path), "batch-jobs/aa/aa.json", record)
    again = LocalCache(tmp_path)  # another process, or a rerun
    assert await load_record(again, "batch-jobs/aa/aa.json") == record
    assert await load_record(again, "batch-jobs/bb/bb.json") is None


async def test_a_record_of_another_shape_counts_as_none(tmp_path):
    cache = LocalCache(tmp_path)
    await cache.put("batch-jobs/cc/cc.json", CachedAnswer(raw_text='{"themes": []}'))
    assert await load_record(cache, "batch-jobs/cc/cc.json") is None


async def test_a_flow_runs_jobs_are_listed_once_each(tmp_path):
    cache = LocalCache(tmp_path)
    for job in ("batches/one", "batches/two", "batches/one"):
        await add_run_job(cache, "run-1", job)
    assert await run_jobs(cache, "run-1") == ["batches/one", "batches/two"]
    assert await run_jobs(cache, "run-2") == []
