"""Turn the run's tally into its numbers and the report's tables (pure). Bounded: failures are
counted by reason with a few examples each; the full list is the ThemeFailures table."""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from themegen.report.chart import LATENCY_TITLE, THROUGHPUT_TITLE, latency_chart, markdown_image, throughput_chart
from themegen.domain.models import RERUN_FIXES, BatchPlan, FailureGroup, Reason, RunSummary, UpsertResult
from themegen.pricing.estimate_record import EstimateRecord
from themegen.report.tally import FailureExample, RunTally

MAX_BATCH_IDS_SHOWN = 50

REASON_HELP = {
    Reason.INPUT: "the source text is NULL, empty or too long: fix the row in the source",
    Reason.INVALID_ANSWER: "not six usable themes after a repair retry: paid, recorded; rerun with retry_failed=true",
    Reason.BLOCKED: "the model declined (safety/recitation): paid, recorded; rerun with retry_failed=true",
    Reason.REJECTED: "Gemini refused the request (4xx): see the example; a rerun sends it again",
    Reason.TRANSIENT: "429/5xx/timeouts until attempts ran out: a rerun sends it again",
    Reason.NOT_SENT: "the run stopped before sending it: a rerun sends it",
    Reason.CACHE_ERROR: "the row cache could not be read: a rerun reads it again (not paid twice)",
    Reason.BATCH_ERROR: "the batch failed as a whole (see batch errors): a rerun settles it",
}


class RunReport(BaseModel):
    summary: RunSummary
    tally: RunTally
    duplicate_ids: list[str] = Field(default_factory=list)
    bytes_processed: int = 0
    snapshot_table: str = ""
    backend_note: str = ""
    environment: str = Field("", description="where the run ran, named in each chart (a chart may be seen alone)")
    tier_choice: str = Field("", description="why the run's tier was chosen (auto: for which deadline)")
    upsert_error: str | None = None
    rows_per_request: int = 1
    batch_size: int = Field(description="the run's rows per batch, which its batch ids depend on")
    failures_table: str = "ThemeFailures"
    estimate: EstimateRecord | None = Field(None, description="the last estimate of this configuration, if any")
    gone_examples: list[str] = Field(default_factory=list, description="a few ids of rows that left the source")
    continuation: str = Field("", description="what continues a run stopped for the day, and when")
    batch_ids_rerun: bool = Field(True, description="a batch_ids run names this run's batches (its layout is the "
                                  "whole table's); else a plain rerun, which reads only the unfinished rows anyway")


def batch_rerun(batch_ids: list[int], batch_size: int) -> dict[str, object]:
    """Parameters that rerun these batches: the same batch size, since ids count batches of it."""
    return {"batch_ids": batch_ids, "batch_size": batch_size}


def rerun_parameters(report: RunReport) -> list[dict[str, object]]:
    """Parameter sets to paste into a new deployment run (a plain rerun does the same for every batch)."""
    sets: list[dict[str, object]] = []
    # More batches than fit a message: a plain rerun settles them all the same (done rows cost nothing).
    if report.batch_ids_rerun and 0 < len(report.tally.rerun_batches) <= MAX_BATCH_IDS_SHOWN:
        sets.append(batch_rerun(sorted(report.tally.rerun_batches), report.batch_size))
    if any(report.tally.failed[r] for r in (Reason.INVALID_ANSWER, Reason.BLOCKED)):
        sets.append({"retry_failed": True})
    return sets


def rows_to_theme(to_theme: int, done: int, failed: int) -> str:
    """'0 rows to theme; 29,724 already done' (pure): what a run has to do, and what it found settled."""
    said = f"{to_theme:,} rows to theme"
    if done:
        said += f"; {done:,} already done"
    if failed:
        said += f"; {failed:,} failed for good earlier, unchanged (retry_failed sends them)"
    return said


def count_earlier_failures(plan: BatchPlan, tally: RunTally) -> None:
    """Rows the done record left out as failed for good count as failed, by their reason (with an example)."""
    for reason, rows in plan.failed_earlier.items():
        tally.failed[Reason(reason)] += rows
        if example := plan.failed_earlier_examples.get(reason):
            tally.examples.setdefault(Reason(reason), []).insert(0, FailureExample(
                source_id=example, batch_id=-1, error="failed in an earlier run; unchanged, so not read or sent again"))


def summarize(plan: BatchPlan, tally: RunTally, upsert: UpsertResult, wall_seconds: float,
              flow_run_id: str | None) -> RunReport:
    count_earlier_failures(plan, tally)
    usage = tally.usage
    summary = RunSummary(
        rows_total=plan.rows_total + plan.rows_done_earlier + plan.rows_failed_earlier,  # the failed: in the tally
        rows_succeeded=tally.rows_succeeded + plan.rows_done_earlier,
        rows_failed=tally.rows_failed,
        rows_already_done=tally.done_before + plan.rows_done_earlier,
        rows_to_theme=plan.rows_total,
        rows_failed_before=plan.rows_failed_earlier,
        rows_gone=plan.rows_gone,
        rows_from_cache=tally.from_cache,
        rows_from_same_text=tally.from_same_text,
        rows_answered=tally.answered,
        rows_not_written=tally.not_written,
        rows_without_id=plan.rows_without_id,
        llm_calls=usage.calls,
        llm_retries=usage.retries,
        http_429=usage.http_429,
        themes_written=tally.written,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        wall_seconds=round(wall_seconds, 3),
        flow_run_id=flow_run_id,
        requests_saved=tally.shared,
        failures=failure_groups(tally),
    )
    return RunReport(summary=summary, tally=tally, duplicate_ids=plan.duplicate_ids,
                     bytes_processed=plan.bytes_processed, snapshot_table=plan.snapshot_table,
                     upsert_error=upsert.error, batch_size=plan.batch_size, gone_examples=plan.gone_examples,
                     batch_ids_rerun=plan.full_layout)


def summary_table(report: RunReport) -> list[dict[str, object]]:
    s, u = report.summary, report.tally.usage
    rows: list[tuple[str, object]] = [
        ("rows total", s.rows_total),
        ("rows succeeded", s.rows_succeeded),
        ("rows failed", s.rows_failed),
        ("rows to theme (the rest were settled, by the done record)", s.rows_to_theme),
        ("rows already done (the sink had them)", s.rows_already_done),
        ("rows failed for good earlier, unchanged (not sent again)", s.rows_failed_before),
        ("rows in the sink no longer in the source", s.rows_gone),
        ("rows from the row cache (paid earlier)", s.rows_from_cache),
        ("rows from an identical text", s.rows_from_same_text),
        ("rows answered by Gemini now", s.rows_answered),
        *([("rows answered by the batch jobs", s.rows_answered_by_batch)] if s.inference_jobs else []),
        ("rows not written to the sink", s.rows_not_written),
        ("rows without id (skipped)", s.rows_without_id),
        ("themes written", s.themes_written),
        ("LLM calls", s.llm_calls),
        ("rows per request", report.rows_per_request),
        ("LLM retries", u.retries),
        ("HTTP 429 answers", u.http_429),
        ("LLM latency p50 (ms, bucket bound)", u.latency.percentile(50)),
        ("LLM latency p95 (ms, bucket bound)", u.latency.percentile(95)),
        ("input tokens", s.input_tokens),
        ("output tokens", s.output_tokens),
        ("tier", s.tier),
        ("cost USD (at the tier's price)", _usd(s.cost_usd)),
        ("cost USD (the same tokens at the standard price)", _usd(s.cost_usd_standard)),
        ("LLM calls at the standard price (flex: deadline near; batch: rows its job left)", s.llm_calls_fallback),
        ("requests saved (rows that took an identical text's answer)", s.requests_saved),
        *([("batch jobs (requests)", f"{s.inference_jobs} ({s.batch_requests:,})"),
           ("batch seconds queued / processing (as polled)", f"{s.batch_queued_seconds} / {s.batch_processing_seconds}"),
           ] if s.inference_jobs else []),
        ("batches that failed whole", len(report.tally.batch_errors)),
        ("batches with unfinished rows (a rerun sends them)", len(report.tally.rerun_batches)),
        ("packed items asked again alone", sum(report.tally.rejected_items.values())),
        ("duplicate ids in source", len(report.duplicate_ids)),
        ("BigQuery bytes processed", report.bytes_processed),
        ("wall seconds", s.wall_seconds),
        *_estimate_vs_actual(report),
    ]
    return [{"metric": k, "value": v} for k, v in rows]


def _estimate_vs_actual(report: RunReport) -> list[tuple[str, object]]:
    e, s = report.estimate, report.summary
    if e is None:
        return []
    made = f"{e.made_at:%Y-%m-%d %H:%M} UTC"
    return [(f"LLM calls: estimated ({made}) / sent", f"{e.calls:,} / {s.llm_calls:,}"),
            (f"cost USD: estimated ({made}) / this run", f"{_usd(e.usd)} / {_usd(s.cost_usd)}")]


def _usd(value: float | None) -> object:
    return "unknown" if value is None else round(value, 4)


def failure_groups(tally: RunTally) -> list[FailureGroup]:
    """Failed rows by reason, most first, with the example ids the tally kept (pure)."""
    return [FailureGroup(reason=reason, rows=count, rerun_fixes=reason in RERUN_FIXES, what_to_do=REASON_HELP[reason],
                         example_ids=[e.source_id for e in tally.examples.get(reason, [])])
            for reason, count in tally.failed.most_common() if count]


# Ids shown in a table cell: the UIs lay tables out at the page's width, and a cell of long error
# texts pushed the last columns off the right edge. The errors themselves are listed under the table.
IDS_IN_A_CELL = 3


def failure_table(report: RunReport) -> list[dict[str, object]]:
    """One row per failure reason: count, whether a rerun fixes it, what to do, a few example ids."""
    tally = report.tally
    return [
        {"reason": reason.value, "rows": count, "rerun fixes it": reason in RERUN_FIXES,
         "what to do": REASON_HELP[reason],
         "example ids": ", ".join(e.source_id for e in tally.examples.get(reason, [])[:IDS_IN_A_CELL])}
        for reason, count in tally.failed.most_common() if count
    ]


def failure_examples(report: RunReport) -> list[str]:
    """Markdown list items: each kept example with its batch and error (the table names only ids)."""
    return [f"- `{reason.value}` {e.source_id} (batch {e.batch_id}): {e.error[:200]}"
            for reason, count in report.tally.failed.most_common() if count
            for e in report.tally.examples.get(reason, [])]


def _ids(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:MAX_BATCH_IDS_SHOWN]))
    return shown + (f", … ({len(ids) - MAX_BATCH_IDS_SHOWN} more)" if len(ids) > MAX_BATCH_IDS_SHOWN else "")


def charts(report: RunReport) -> list[str]:
    """The run over time and its latencies as images (themegen/report/chart.py), or why there are none."""
    tally = report.tally
    throughput = throughput_chart(tally.timeline, report.environment)
    latency = latency_chart(tally.usage.latency, report.environment)
    return [
        markdown_image(THROUGHPUT_TITLE, throughput) if throughput else "No batch took measurable time: no chart.",
        "",
        markdown_image(LATENCY_TITLE, latency) if latency else "No Gemini request was answered: no latency chart.",
        "",
    ]


def markdown(report: RunReport) -> str:
    s, tally = report.summary, report.tally
    lines = [
        "# themegen run report", "",
        report.backend_note, "",
        f"**{s.rows_succeeded:,} / {s.rows_total:,} rows** hold six themes; **{s.rows_failed:,} failed**; "
        f"{s.llm_calls:,} LLM calls, {s.input_tokens:,} input / {s.output_tokens:,} output tokens, "
        f"{s.wall_seconds:.1f} s.", "",
        rows_to_theme(s.rows_to_theme, s.rows_already_done - tally.done_before, s.rows_failed_before) + ".", "",
        *([f"Tier **{s.tier}**: {report.tier_choice}.", ""] if report.tier_choice else []),
    ]
    if tally.stop_reason:
        lines += [f"**Stopped early:** {tally.stop_reason}", ""]
    if s.continues_at:
        lines += [f"**Continues at {s.continues_at}**: {report.continuation}.", ""]
    if s.rows_gone:
        lines += [f"**{s.rows_gone:,} rows in the sink are no longer in the source**, e.g. {', '.join(report.gone_examples)}"
                  " (THEMEGEN_DELETE_GONE_ROWS=true deletes them from the sink).", ""]
    if report.upsert_error:
        lines += [f"**Not written to the sink:** {s.rows_not_written:,} rows: {report.upsert_error}", ""]
    lines += charts(report)
    lines += ["| metric | value |", "|---|---|", *(f"| {r['metric']} | {r['value']} |" for r in summary_table(report)), ""]
    if table := failure_table(report):
        lines += [f"## Failures by reason ({s.rows_failed:,} rows)", "",
                  "| reason | rows | rerun fixes it | what to do | example ids |", "|---|---|---|---|---|"]
        lines += [f"| {r['reason']} | {r['rows']:,} | {'yes' if r['rerun fixes it'] else 'no'} | {r['what to do']} | "
                  f"{str(r['example ids']).replace('|', '/')} |" for r in table]
        lines += ["", "Examples:", "", *(item.replace("|", "/") for item in failure_examples(report))]
        lines += ["", f"Every failed row, with its batch and full reason: `SELECT * FROM {report.failures_table} "
                      "ORDER BY FailedAt DESC` in the sink.", ""]
    if tally.rejected_items:
        lines += ["## Packed items asked again alone", "",
                  *(f"- {kind}: {n:,}" for kind, n in tally.rejected_items.most_common(10)), ""]
    if tally.batch_errors:
        ids = sorted(tally.batch_errors)
        lines += [f"## Batch errors ({len(ids)}: {_ids(ids)})", "",
                  *(f"- batch {b}: {tally.batch_errors[b][:300]}" for b in ids[:10]), ""]
    if sets := rerun_parameters(report):
        lines += ["## Rerun", "", "Retry this flow run in the UI, or run the deployment again: every run skips rows "
                  "already done and sends Gemini only the unfinished ones. To settle only some batches, or to "
                  "send recorded permanent failures again:", ""]
        lines += [f"```json\n{json.dumps(p)}\n```" for p in sets]
        lines.append("")
    if report.duplicate_ids:
        lines += [f"## Duplicate ids ({len(report.duplicate_ids)})", "",
                  "Each was processed once (the first by text): " + ", ".join(report.duplicate_ids[:50]), ""]
    lines += [f"Snapshot table: `{report.snapshot_table}`"]
    return "\n".join(lines)
