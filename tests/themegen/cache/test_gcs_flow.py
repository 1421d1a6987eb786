"""The flow with its row cache on a prefect-gcp GcsBucket block over the Cloud Storage emulator, as
the Cloud Run deployment runs it (THEMEGEN_CACHE_BLOCK=gcs-bucket/<name>, grouped layout).

Counted independently of our code: Gemini calls by the simulator, storage operations by the
emulator's access log, done rows by Spanner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.generate_themes import generate_themes
from tests.flows.helpers import assert_rows_add_up, batch_rows, distinct_texts, nonempty, source_rows, theme_ids
from themegen.cache.segments import close_all

REPO = Path(__file__).resolve().parents[3]
ROWS, BATCH = 300, 20
FLUSH_S = 0.5  # the kill test's flush interval: several flushes before the kill
# The simulator's clock is not the flow's: an answer is put a little after the simulator sent it
# (parsing, a busy event loop on a shared machine), and a segment upload in progress is lost too.
SLACK_S = 1.0


@pytest.fixture
async def gcs_cache(stack, emulator, monkeypatch):
    """The row cache on a GcsBucket block saved in the stack's Prefect server, a folder of its own."""
    stack.clear_outputs()
    close_all()
    block = emulator.bucket()
    await block.gcp_credentials.asave("themegen-test-gcs", overwrite=True)
    await block.asave("themegen-test-cache", overwrite=True)
    monkeypatch.setenv("THEMEGEN_CACHE_BLOCK", "gcs-bucket/themegen-test-cache")
    yield block
    close_all()


def run_command(stack, *extra: str) -> tuple[list[str], dict[str, str]]:
    """`themegen run` in a process of its own, with this environment (the cache block's name in it);
    --in-process: that process is the flow's (on a worker, killing it would leave the run going)."""
    command = [sys.executable, "-m", "themegen.cli.app", "run", "--rows", str(ROWS), "--batch-size", str(BATCH),
               "--in-process", *extra]
    return command, os.environ | {"THEMEGEN_STATE_DIR": str(stack.config.state_dir)}


def empty_sink(stack) -> None:
    def delete_all(tx):
        tx.execute_update(f"DELETE FROM {stack.config.themes_table} WHERE TRUE")
        tx.execute_update(f"DELETE FROM {stack.config.failures_table} WHERE TRUE")

    stack.database().run_in_transaction(delete_all)


async def test_a_run_costs_a_few_storage_operations_and_its_answers_outlive_its_process(stack, emulator, gcs_cache):
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:ROWS])
    mark, started = emulator.mark(), time.monotonic()
    command, env = run_command(stack, "--json")
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    seconds = time.monotonic() - started
    ops = emulator.operations(mark)
    assert stack.sim("stats")["requests"] == distinct_texts(rows, wanted)
    # One segment per flush (2 s) and one listing per kind the run reads (answers, the judge's verdicts, the
    # taxonomy's theme vectors), where one object per key would be two writes per answered row and a read per key.
    assert 1 <= ops["insert"] <= seconds / 2.0 + 2 and ops["list"] <= 3, ops
    assert ops["get"] == 0  # nothing to read on a first run: the listing was empty

    # A rerun of the finished run: every row is done in Spanner; no call, no cache read.
    mark, before = emulator.mark(), stack.sim("stats")["requests"]
    summary = await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    assert summary.llm_calls == 0 == stack.sim("stats")["requests"] - before
    assert summary.rows_already_done == len(wanted)
    assert emulator.operations(mark)["class_a"] + emulator.operations(mark)["class_b"] == 0

    # Spanner emptied: the answers the first process flushed as it exited are all there.
    empty_sink(stack)
    close_all()
    summary = await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    assert summary.llm_calls == 0 == stack.sim("stats")["requests"] - before
    assert summary.rows_from_cache + summary.rows_from_same_text == len(wanted)
    assert theme_ids(stack) == set(wanted)


async def test_sigkill_then_rerun_pays_only_the_unanswered_rows_and_the_last_flush_interval(
        stack, emulator, gcs_cache, monkeypatch):
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:ROWS])
    texts = distinct_texts(rows, wanted)
    # One row of every batch gets HTTP 500 until the kill: its batch waits on that row's retries
    # (seconds of backoff), so the batch's other answers sit in the row cache, not yet in Spanner.
    stalling = [batch_rows(BATCH, batch_id, ROWS)[0] for batch_id in range(ROWS // BATCH)]
    stack.sim("config", {"latency_s": 0.2, "latency_jitter_s": 0.1, "error_ids": stalling})
    monkeypatch.setenv("THEMEGEN_CACHE_FLUSH_S", str(FLUSH_S))
    command, env = run_command(stack, "--max-parallel", "2")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    answered: list[tuple[float, int]] = []  # (time, answers the simulator had sent)
    try:
        deadline = time.monotonic() + 120
        while not answered or answered[-1][1] < 2 * (BATCH - 1) or answered[-1][0] < answered[0][0] + 1:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run made no progress"
            answered.append((time.monotonic(), stack.sim("stats")["ok"]))
            if answered[-1][1] < 2 * (BATCH - 1):
                answered[0] = answered[-1]  # the clock below starts once two batches are answered
            time.sleep(0.05)
        time.sleep(FLUSH_S + SLACK_S + 0.5)  # those answers are older than the bound at the kill
        answered.append((time.monotonic(), stack.sim("stats")["ok"]))
        process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=30)
    finally:
        stack.sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0, "error_ids": []})
    at_kill = stack.sim("stats")
    # Answers of the last flush interval may be lost (and an upload in progress: SLACK_S).
    recent = at_kill["ok"] - max((ok for t, ok in answered if t <= killed_at - FLUSH_S - SLACK_S), default=0)
    unanswered = texts - at_kill["ok"]
    written_before = theme_ids(stack)

    close_all()
    summary = await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    rerun_calls = stack.sim("stats")["requests"] - at_kill["requests"]
    counts = {"rerun_calls": rerun_calls, "unanswered": unanswered, "recent": recent, "summary": summary}
    assert rerun_calls == summary.llm_calls <= unanswered + recent, counts
    assert summary.rows_from_cache > 0, counts  # answered before the kill, not yet in Spanner: not paid again
    assert summary.rows_already_done == len(written_before)
    assert_rows_add_up(summary)
    assert theme_ids(stack) == set(wanted)
    assert len(stack.read_table("SELECT t.SourceId FROM Themes AS t")) == len(wanted)
