from themegen.report.chart import LATENCY_TITLE, THROUGHPUT_TITLE
from themegen.domain.models import BatchPlan, BatchResult, LatencyHistogram, LlmUsage, Reason, RowFailure, UpsertResult
from themegen.report.tables import failure_table, markdown, summarize, summary_table
from themegen.report.tally import EXAMPLES_PER_REASON, RunTally


def failure(batch_id: int, i: int, reason: Reason) -> RowFailure:
    return RowFailure(source_id=f"{batch_id}-{i}", batch_id=batch_id, reason=reason, error="boom", attempts=2)


def usage(calls: int) -> LlmUsage:
    u = LlmUsage(calls=calls, input_tokens=10 * calls)
    for _ in range(calls):
        u.latency.add(80)
    return u


def test_latency_percentiles_come_from_fixed_buckets():
    h = LatencyHistogram()
    for ms in [5] * 50 + [400] * 45 + [4_000] * 5:
        h.add(ms)
    assert (h.percentile(50), h.percentile(95), h.percentile(100)) == (10, 500, 5_000)
    assert LatencyHistogram().percentile(50) is None


def test_the_tally_counts_by_reason_keeps_a_few_examples_and_knows_what_to_rerun():
    tally = RunTally()
    tally.add(BatchResult(batch_id=0, rows=10, answered=10, written=10, usage=usage(10)))
    tally.add(BatchResult(batch_id=1, rows=10, answered=9, written=9, failures=[failure(1, 0, Reason.INVALID_ANSWER)]))
    tally.add(BatchResult(batch_id=2, rows=20, answered=10, written=10,
                          failures=[failure(2, i, Reason.TRANSIENT) for i in range(10)]))
    tally.add(BatchResult(batch_id=3, rows=10, error="Crashed: BigQuery unavailable"))
    tally.add(BatchResult(batch_id=4, rows=10, from_cache=4, answered=6, not_written=10, write_error="SinkUnavailable"))
    assert tally.failed == {Reason.INVALID_ANSWER: 1, Reason.TRANSIENT: 10, Reason.BATCH_ERROR: 10}
    assert len(tally.examples[Reason.TRANSIENT]) == EXAMPLES_PER_REASON
    assert tally.rerun_batches == {2, 3, 4} and tally.unwritten_batches == {3: True, 4: False}
    assert (tally.rows_succeeded, tally.rows_failed, tally.usage.calls) == (29, 21, 10)

    tally.settled_later(BatchResult(batch_id=4, rows=10, from_cache=10, written=10))
    assert (tally.not_written, tally.written, tally.rows_succeeded) == (0, 39, 39)


def test_summary_and_report_group_failures_by_reason_with_what_to_do():
    tally = RunTally()
    tally.add(BatchResult(batch_id=0, rows=10, done_before=3, answered=7, written=7, usage=usage(7)))
    tally.add(BatchResult(batch_id=2, rows=10, answered=8, written=8,
                          failures=[failure(2, 0, Reason.TRANSIENT), failure(2, 1, Reason.BLOCKED)]))
    tally.add(BatchResult(batch_id=3, rows=10, error="Crashed: BigQuery unavailable"))
    plan = BatchPlan(snapshot_table="p.d.t", rows_total=30, batches=[], batch_size=10, duplicate_ids=["dup-1"],
                     rows_without_id=2)
    report = summarize(plan, tally, UpsertResult(), 12.5, "fr")
    s = report.summary
    assert (s.rows_total, s.rows_succeeded, s.rows_failed, s.rows_already_done, s.rows_without_id) == (30, 18, 12, 3, 2)
    assert (s.llm_calls, s.input_tokens, s.themes_written) == (7, 70, 15)
    reasons = {r["reason"]: r for r in failure_table(report)}
    assert reasons["batch_error"]["rows"] == 10 and reasons["transient"]["rerun fixes it"]
    assert not reasons["blocked"]["rerun fixes it"] and "retry_failed" in reasons["blocked"]["what to do"]
    text = markdown(report)
    assert '{"batch_ids": [2, 3], "batch_size": 10}' in text and '{"retry_failed": true}' in text
    assert "2-0 (batch 2)" in text and "dup-1" in text and "SELECT * FROM ThemeFailures" in text
    assert {"metric": "LLM latency p95 (ms, bucket bound)", "value": 100} in summary_table(report)
    assert f"![{THROUGHPUT_TITLE}](data:image/svg+xml;base64," in text
    assert f"![{LATENCY_TITLE}](data:image/svg+xml;base64," in text


def test_a_run_with_no_time_or_no_gemini_answer_says_why_it_has_no_chart():
    tally = RunTally()
    tally.add(BatchResult(batch_id=0, rows=10, done_before=10), at_s=0.0)
    text = markdown(summarize(BatchPlan(snapshot_table="t", rows_total=10, batches=[], batch_size=10),
                              tally, UpsertResult(), 0.0, None))
    assert "data:image" not in text
    assert "No batch took measurable time" in text and "No Gemini request was answered" in text


def test_the_report_stays_bounded_for_a_huge_run():
    tally = RunTally()
    for b in range(5_000):
        tally.add(BatchResult(batch_id=b, rows=2_000, answered=1_900, written=1_900, seconds=30.0, usage=usage(3),
                              failures=[failure(b, i, Reason.TRANSIENT) for i in range(100)]), at_s=30.0 + b)
    text = markdown(summarize(BatchPlan(snapshot_table="t", rows_total=10_000_000, batches=[], batch_size=2_000),
                              tally, UpsertResult(), 1.0, None))
    assert tally.rows_failed == 500_000 and len(text) < 20_000  # with charts of 60 time buckets at most
    assert f"![{THROUGHPUT_TITLE}]" in text and 30 <= tally.timeline.buckets_used() <= 60


def test_the_tally_does_not_grow_with_the_rows_of_its_batches():
    """Counters, a fixed histogram and a few examples: 100 times the rows, the same size."""
    def tally_of(rows_per_batch: int) -> RunTally:
        tally = RunTally()
        for b in range(200):
            usage = LlmUsage(calls=rows_per_batch)
            for ms in range(0, 3 * rows_per_batch, 3):
                usage.latency.add(ms)
            tally.add(BatchResult(batch_id=b, rows=rows_per_batch, answered=rows_per_batch - 10,
                                  written=rows_per_batch - 10, usage=usage,
                                  failures=[failure(b, i, Reason.TRANSIENT) for i in range(10)]))
        return tally

    small, large = tally_of(100), tally_of(10_000)
    assert large.rows == 100 * small.rows and large.usage.calls == 100 * small.usage.calls
    assert abs(len(large.model_dump_json()) - len(small.model_dump_json())) < 200  # digits of larger counts
