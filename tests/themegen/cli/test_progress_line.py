"""The live line of `themegen run`: rows done/total, rows/s, ETA, 429s and failures, from the same
counters as the Prefect progress artifact."""

from __future__ import annotations

import io

from rich.console import Console

from themegen.domain.models import BatchResult, LlmUsage, Reason, RowFailure
from themegen.report.progress import ProgressCounts, RunProgress
from themegen.cli.progress_line import ProgressLine, describe


def test_the_line_says_rows_rate_eta_429s_and_failures():
    counts = ProgressCounts(rows_done=14_200, rows_total=30_000, batches_done=142, http_429=3, failed_rows=2,
                            failed_batches=1)
    assert describe(counts, 100.0) == "14,200/30,000  142 rows/s  ETA 00:01:51  429s 3  failed 2 rows, 1 batch"
    assert describe(ProgressCounts(0, 0, 0), 0.0) == "checking the settings and counting the rows"
    assert "ETA -:--:--" in describe(ProgressCounts(0, 500, 0), 5.0)  # no rate yet, no guess


async def test_finished_batches_move_the_line(monkeypatch):
    async def no_api(*args, **kwargs):  # the artifact is the Prefect API's business, tested elsewhere
        return None

    monkeypatch.setattr("themegen.report.progress.acreate_progress_artifact", no_api)
    failure = RowFailure(source_id="fb-1", batch_id=0, reason=Reason.INVALID_ANSWER, error="bad", attempts=2)
    line = ProgressLine(Console(file=io.StringIO(), force_terminal=True, width=160))
    with line:
        progress = RunProgress(rows_total=300)
        await progress.start()
        await progress.batch_done(100, BatchResult(batch_id=0, rows=100, failures=[failure],
                                                   usage=LlmUsage(http_429=4)))
        await progress.batch_done(100, BatchResult(batch_id=1, rows=100, error="read error"))
        text = line.text()
    assert "200/300" in text and "429s 4" in text and "failed 1 row, 1 batch" in text
