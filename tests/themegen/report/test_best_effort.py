"""Prefect API calls that must never cost the run its work: they fail quietly, with a warning."""

from __future__ import annotations

import asyncio
import logging

import httpx

from themegen.report import progress
from themegen.report.best_effort import best_effort


async def test_a_call_that_keeps_failing_returns_none_with_a_warning_after_its_attempts(caplog):
    calls = []

    async def down():
        calls.append(1)
        raise httpx.ConnectError("All connection attempts failed")

    with caplog.at_level(logging.WARNING, logger="themegen"):
        assert await best_effort("report artifact", down, attempts=2) is None  # 2 s apart
    assert len(calls) == 2
    assert "report artifact skipped" in caplog.text and "ConnectError" in caplog.text


async def test_a_call_that_succeeds_returns_its_value():
    async def up():
        return "artifact-id"

    assert await best_effort("progress artifact", up) == "artifact-id"


async def test_progress_goes_on_when_the_prefect_api_is_down(monkeypatch):
    async def down(*args, **kwargs):
        raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(progress, "acreate_progress_artifact", down)
    seen = []
    run = progress.RunProgress(rows_total=200)
    monkeypatch.setattr(progress, "_listeners", [lambda counts: seen.append(counts.rows_done)])
    await run.start()
    await run.batch_done(100)
    await run.batch_done(100)
    await run.finish()
    assert seen == [0, 100, 200]


async def test_a_batch_does_not_wait_for_a_progress_update_the_api_holds(monkeypatch):
    """Through an outage Prefect's client retries a call for minutes: the batches go on meanwhile."""
    held = asyncio.Event()

    async def hangs(*args, **kwargs):
        await held.wait()

    async def created(*args, **kwargs):
        return "artifact-id"

    monkeypatch.setattr(progress, "acreate_progress_artifact", created)
    monkeypatch.setattr(progress, "aupdate_progress_artifact", hangs)
    run = progress.RunProgress(rows_total=200)
    await run.start()
    await asyncio.wait_for(run.batch_done(100), 1)
    await asyncio.wait_for(run.batch_done(100), 1)
    await asyncio.wait_for(run.finish(wait_s=0.1), 1)  # gives up on the held update
    held.set()
