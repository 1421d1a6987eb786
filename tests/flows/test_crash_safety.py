"""SIGKILL the flow process mid-run: the rerun finishes every row and pays only for unfinished ones
(on every sink)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from flows.generate_themes import generate_themes
from tests.flows.helpers import assert_rows_add_up, distinct_texts, nonempty, source_rows
from themegen.cache.sqlite.client import FILE_NAME

REPO = Path(__file__).resolve().parents[2]
ROWS, BATCH = 300, 20


def cached_answers(stack, kind: str = "answers") -> int:
    """Answers the row cache holds (a write torn by the kill was rolled back, so it is not one): by
    row ("answers": rows Gemini answered), or by text ("texts": texts paid for)."""
    with closing(sqlite3.connect(stack.cache_path / FILE_NAME)) as db:
        return db.execute("SELECT COUNT(*) FROM answers WHERE key LIKE ?", (f"{kind}/%",)).fetchone()[0]


async def test_sigkill_then_rerun_completes_every_row_once_paying_only_for_unfinished(stack, sink):
    sink.clear_outputs()
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:ROWS])
    # Slow answers so the kill lands mid-run; 2 batches x 20 rows in flight.
    stack.sim("config", {"latency_s": 0.25, "latency_jitter_s": 0.1})
    # --in-process: the process killed is the flow's own (on a worker, killing the CLI leaves the run going).
    command = [sys.executable, "-m", "themegen.cli.app", "run", "--rows", str(ROWS), "--batch-size", str(BATCH),
               "--max-parallel", "2", "--in-process"]
    env = os.environ | {"THEMEGEN_STATE_DIR": str(stack.config.state_dir)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while stack.sim("stats")["ok"] < len(wanted) // 2:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        stack.sim("config", {"latency_s": 0.0, "latency_jitter_s": 0.0})
    sent_before_kill = stack.sim("stats")["requests"]
    cached, texts_paid = cached_answers(stack), cached_answers(stack, "texts")
    assert 0 < cached < len(wanted)
    written_before = sink.theme_ids()
    # Batches that finished before the kill wrote their own rows; the rest of the answers are cached.
    assert 0 < len(written_before) and written_before <= set(wanted)

    summary = await generate_themes(rows_limit=ROWS, batch_size=BATCH)

    rerun_calls = stack.sim("stats")["requests"] - sent_before_kill
    unfinished = distinct_texts(rows, wanted) - texts_paid  # identical texts are paid once
    in_flight = sent_before_kill - texts_paid
    assert rerun_calls == summary.llm_calls == unfinished <= unfinished + in_flight
    assert summary.rows_already_done == len(written_before)
    assert summary.rows_from_cache + summary.rows_from_same_text == len(wanted) - len(written_before) - summary.rows_answered
    assert_rows_add_up(summary)
    assert sink.theme_ids() == set(wanted)
    assert sink.theme_rows() == len(wanted)  # once each (PK)
