from themegen.models import BatchPlan, BatchResult, LlmUsage, RowFailure, ThemeRecord, UpsertResult
from themegen.report import markdown, percentile, rerun_batch_ids, summarize, summary_table


def result(batch_id: int, ok: int = 0, failures: list[RowFailure] = (), error: str | None = None,
           rows: int = 10) -> BatchResult:
    records = [ThemeRecord(source_id=f"{batch_id}-{i}", themes=list("abcdef"), model="m", prompt_version="v1",
                           input_hash="h") for i in range(ok)]
    return BatchResult(batch_id=batch_id, rows=rows, records=records, failures=list(failures), error=error,
                       usage=LlmUsage(calls=ok, input_tokens=10 * ok, latencies_ms=[100] * ok), cached=1)


def failure(batch_id: int, retryable: bool) -> RowFailure:
    return RowFailure(source_id=f"{batch_id}-x", batch_id=batch_id, error="boom", attempts=2, retryable=retryable)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50, 95, 100)
    assert percentile([7], 95) == 7 and percentile([], 50) is None


def test_only_batches_with_transient_or_batch_failures_are_rerun():
    results = [result(0, 10), result(1, 9, [failure(1, retryable=False)]), result(2, 9, [failure(2, True)]),
               result(3, error="Crashed: BigQuery unavailable")]
    assert rerun_batch_ids(results) == [2, 3]


def test_summary_and_report_name_failures_batches_and_rerun_parameters():
    results = [result(0, 10), result(2, 9, [failure(2, True)]), result(3, error="Crashed: BigQuery unavailable")]
    plan = BatchPlan(snapshot_table="p.d.t", rows_total=30, batches=[], batch_size=10, duplicate_ids=["dup-1"])
    report = summarize(plan, results, UpsertResult(themes_written=19, failures_written=1, commits=1), 12.5, "fr")
    s = report.summary
    assert (s.rows_total, s.rows_succeeded, s.rows_failed, s.rows_skipped_cached) == (30, 19, 11, 3)
    assert (s.llm_calls, s.input_tokens, s.themes_written) == (19, 190, 19)
    text = markdown(report)
    assert "Batch ids: `[2, 3]`" in text and '{"only_failed": true}' in text
    assert '{"batch_ids": [2, 3], "batch_size": 10}' in text  # ids count batches of the run's size
    assert "2-x" in text and "dup-1" in text
    assert {"metric": "LLM latency p95 (ms)", "value": 100} in summary_table(report)
