"""A run on a worker reports through its artifacts: the summary `themegen run` prints (and --json writes)
is the one the flow returned, read back from the tables it published; its error message is worded as
the CLI words its own."""

from __future__ import annotations

import json

from themegen.cli.run_outcome import run_message, summary_from_tables
from themegen.domain.models import BatchPlan, BatchResult, LlmUsage, Reason, RowFailure, UpsertResult
from themegen.report.tables import failure_table, summarize, summary_table
from themegen.report.tally import RunTally


def _report():
    tally = RunTally()
    transient = [RowFailure(source_id=f"fb-{i}", batch_id=1, reason=Reason.TRANSIENT, error="503 UNAVAILABLE",
                            attempts=2) for i in range(5)]
    empty = RowFailure(source_id="fb-9", batch_id=1, reason=Reason.INPUT, error="empty", attempts=0)
    tally.add(BatchResult(batch_id=0, rows=1_200, done_before=100, from_cache=50, from_same_text=50, answered=1_000,
                          written=1_100, usage=LlmUsage(calls=1_000, retries=3, http_429=2, input_tokens=90_000,
                                                        output_tokens=9_000)))
    tally.add(BatchResult(batch_id=1, rows=10, answered=4, written=4, failures=[*transient, empty]))
    report = summarize(BatchPlan(snapshot_table="p.d.t", rows_total=1_210, batches=[], batch_size=100), tally,
                       UpsertResult(), 12.5, "fr-1")
    report.tier_choice = "cheapest within 2h"
    s = report.summary
    s.tier, s.cost_usd, s.cost_usd_standard, s.llm_calls_fallback = "flex", 0.0123, 0.0246, 4
    s.inference_jobs, s.batch_requests, s.rows_answered_by_batch = 2, 1_100, 1_050
    s.batch_queued_seconds, s.batch_processing_seconds = 1.5, 20.25
    return report


def test_the_summary_comes_back_from_the_run_s_tables():
    report = _report()
    # As the Prefect API stores them: JSON.
    summary, failures = json.loads(json.dumps(summary_table(report))), json.loads(json.dumps(failure_table(report)))

    back = summary_from_tables("fr-1", summary, failures)

    # What the tables leave out: rows_left_by_batch, and example ids beyond the three a cell shows.
    expected = report.summary.model_copy(update={"rows_left_by_batch": 0})
    expected.failures[0].example_ids = expected.failures[0].example_ids[:3]
    assert back == expected
    assert [g.example_ids for g in back.failures] == [["fb-0", "fb-1", "fb-2"], ["fb-9"]]


def test_an_unknown_price_comes_back_as_none():
    report = _report()
    report.summary.cost_usd = report.summary.cost_usd_standard = None
    back = summary_from_tables("fr-1", json.loads(json.dumps(summary_table(report))), [])
    assert (back.cost_usd, back.cost_usd_standard) == (None, None)


def test_an_error_of_ours_reads_as_its_message_and_any_other_keeps_its_type():
    ours = "Flow run encountered an exception: SourceConfigError: BigQuery table p.d.nope not found.. check THEMEGEN_BQ_TABLE"
    traceback = "Traceback (most recent call last):\n  ...\nthemegen.source.bigquery.client.SourceConfigError: ..."
    assert run_message(ours, traceback) == "BigQuery table p.d.nope not found. check THEMEGEN_BQ_TABLE"
    other = "Flow run encountered an exception: ValueError: bad"
    assert run_message(other, "Traceback (most recent call last):\nValueError: bad") == "ValueError: bad"
    assert run_message(other, None) == "ValueError: bad"
    assert run_message("3 batches have unfinished rows") == "3 batches have unfinished rows"
    assert run_message(None) is None
