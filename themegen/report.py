"""Turn batch results into the run's numbers and the report's tables (pure)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from themegen.models import BatchPlan, BatchResult, LlmUsage, RowFailure, RunSummary, UpsertResult

MAX_FAILURE_ROWS_IN_REPORT = 1000


class RunReport(BaseModel):
    summary: RunSummary
    usage: LlmUsage
    failures: list[RowFailure] = Field(default_factory=list)
    failed_batches: dict[int, str] = Field(default_factory=dict, description="batch id -> error")
    bytes_processed: int = 0
    snapshot_table: str = ""
    backend_note: str = ""


def summarize(
    plan: BatchPlan,
    results: list[BatchResult],
    upsert: UpsertResult,
    wall_seconds: float,
    flow_run_id: str | None,
) -> RunReport:
    usage = sum((r.usage for r in results), LlmUsage())
    failures = [f for r in results for f in r.failures]
    failed_batches = {r.batch_id: r.error for r in results if r.error}
    # Rows of a batch that failed as a whole are failed too, even without a per-row reason.
    rows_in_failed_batches = sum(r.rows for r in results if r.error and not r.failures)
    succeeded = sum(len(r.records) for r in results)
    summary = RunSummary(
        rows_total=plan.rows_total,
        rows_succeeded=succeeded,
        rows_failed=len(failures) + rows_in_failed_batches,
        llm_calls=usage.calls,
        themes_written=upsert.themes_written,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        wall_seconds=round(wall_seconds, 3),
        flow_run_id=flow_run_id,
    )
    return RunReport(
        summary=summary,
        usage=usage,
        failures=failures,
        failed_batches=failed_batches,
        bytes_processed=plan.bytes_processed,
        snapshot_table=plan.snapshot_table,
    )


def summary_table(report: RunReport) -> list[dict[str, object]]:
    s, u = report.summary, report.usage
    rows: list[tuple[str, object]] = [
        ("rows total", s.rows_total),
        ("rows succeeded", s.rows_succeeded),
        ("rows failed", s.rows_failed),
        ("rows skipped (cached)", s.rows_skipped_cached),
        ("themes written", s.themes_written),
        ("LLM calls", s.llm_calls),
        ("LLM retries", u.retries),
        ("HTTP 429 answers", u.http_429),
        ("input tokens", s.input_tokens),
        ("output tokens", s.output_tokens),
        ("failed batches", len(report.failed_batches)),
        ("BigQuery bytes processed", report.bytes_processed),
        ("wall seconds", s.wall_seconds),
    ]
    return [{"metric": k, "value": v} for k, v in rows]


def failure_table(report: RunReport) -> list[dict[str, object]]:
    rows = [
        {"source_id": f.source_id, "batch_id": f.batch_id, "attempts": f.attempts, "error": f.error}
        for f in report.failures[:MAX_FAILURE_ROWS_IN_REPORT]
    ]
    rows += [
        {"source_id": "(whole batch)", "batch_id": b, "attempts": 0, "error": e}
        for b, e in sorted(report.failed_batches.items())
    ]
    return rows


def markdown(report: RunReport) -> str:
    s = report.summary
    lines = [
        "# themegen run report",
        "",
        f"{report.backend_note}" if report.backend_note else "",
        f"**{s.rows_succeeded:,} / {s.rows_total:,} rows** got six themes; **{s.rows_failed:,} failed**; "
        f"{s.llm_calls:,} LLM calls, {s.input_tokens:,} input / {s.output_tokens:,} output tokens, "
        f"{s.wall_seconds:.1f} s.",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {r['metric']} | {r['value']} |" for r in summary_table(report)),
        "",
    ]
    if report.failed_batches:
        ids = sorted(report.failed_batches)
        lines += [f"## Failed batches ({len(ids)})", "", f"Batch ids: `{ids}`", ""]
        lines += [f"- batch {b}: {report.failed_batches[b][:300]}" for b in ids[:50]]
        lines.append("")
    if report.failures:
        lines += [f"## Failed rows ({len(report.failures):,})", "", "| source id | batch | attempts | reason |",
                  "|---|---|---|---|"]
        lines += [
            f"| {f.source_id} | {f.batch_id} | {f.attempts} | {f.error[:200].replace('|', '/')} |"
            for f in report.failures[:200]
        ]
        if len(report.failures) > 200:
            lines.append(f"| ... | | | {len(report.failures) - 200} more in the failures table artifact |")
    lines += ["", f"Snapshot table: `{report.snapshot_table}`"]
    return "\n".join(lines)
