"""Turn batch results into the run's numbers and the report's tables (pure)."""

from __future__ import annotations

import json
import math

from pydantic import BaseModel, Field

from themegen.models import BatchPlan, BatchResult, LlmUsage, RowFailure, RunSummary, UpsertResult

MAX_FAILURE_ROWS_IN_REPORT = 1000


class RunReport(BaseModel):
    summary: RunSummary
    usage: LlmUsage
    failures: list[RowFailure] = Field(default_factory=list)
    failed_batches: dict[int, str] = Field(default_factory=dict, description="batch id -> error")
    rerun_batches: list[int] = Field(default_factory=list)
    duplicate_ids: list[str] = Field(default_factory=list)
    bytes_processed: int = 0
    snapshot_table: str = ""
    backend_note: str = ""
    cost_usd: float | None = Field(None, description="at list prices; None when the model's price is unknown")
    stop_reason: str | None = Field(None, description="why the run stopped sending requests early")
    rows_per_request: int = 1
    batch_size: int = Field(description="the run's rows per batch, which its batch ids depend on")


def rerun_batch_ids(results: list[BatchResult]) -> list[int]:
    """Batches worth running again: the task failed, or a row failed for a transient reason."""
    return sorted(r.batch_id for r in results if r.error or any(f.retryable for f in r.failures))


def stop_reason(results: list[BatchResult]) -> str | None:
    """The run-wide stop (per-day quota) if a batch hit it."""
    return next((r.stopped for r in results if r.stopped), None)


def batch_rerun(batch_ids: list[int], batch_size: int) -> dict[str, object]:
    """Parameters that rerun these batches: the same batch size, since ids count batches of it."""
    return {"batch_ids": batch_ids, "batch_size": batch_size}


def rerun_parameters(report: RunReport) -> list[dict[str, object]]:
    """Parameter sets to paste into a new deployment run."""
    sets: list[dict[str, object]] = []
    if report.rerun_batches:
        sets.append(batch_rerun(report.rerun_batches, report.batch_size))
    if report.failures or report.failed_batches:
        sets.append({"only_failed": True})
    return sets


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
        rows_skipped_cached=sum(r.cached for r in results),
        llm_calls=usage.calls,
        llm_retries=usage.retries,
        http_429=usage.http_429,
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
        rerun_batches=rerun_batch_ids(results),
        duplicate_ids=plan.duplicate_ids,
        bytes_processed=plan.bytes_processed,
        snapshot_table=plan.snapshot_table,
        stop_reason=stop_reason(results),
        batch_size=plan.batch_size,
    )


def percentile(values: list[int], q: float) -> int | None:
    """Nearest-rank percentile (pure); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def summary_table(report: RunReport) -> list[dict[str, object]]:
    s, u = report.summary, report.usage
    rows: list[tuple[str, object]] = [
        ("rows total", s.rows_total),
        ("rows succeeded", s.rows_succeeded),
        ("rows failed", s.rows_failed),
        ("rows skipped (cached)", s.rows_skipped_cached),
        ("themes written", s.themes_written),
        ("LLM calls", s.llm_calls),
        ("rows per request", report.rows_per_request),
        ("LLM retries", u.retries),
        ("HTTP 429 answers", u.http_429),
        ("LLM latency p50 (ms)", percentile(u.latencies_ms, 50)),
        ("LLM latency p95 (ms)", percentile(u.latencies_ms, 95)),
        ("input tokens", s.input_tokens),
        ("output tokens", s.output_tokens),
        ("cost USD (list price)", "unknown" if report.cost_usd is None else round(report.cost_usd, 4)),
        ("failed batches", len(report.failed_batches)),
        ("batches to rerun", len(report.rerun_batches)),
        ("duplicate ids in source", len(report.duplicate_ids)),
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
        *([f"**Stopped early:** {report.stop_reason}", ""] if report.stop_reason else []),
        "| metric | value |",
        "|---|---|",
        *(f"| {r['metric']} | {r['value']} |" for r in summary_table(report)),
        "",
    ]
    if report.rerun_batches:
        lines += [f"## Batches to rerun ({len(report.rerun_batches)})", "", f"Batch ids: `{report.rerun_batches}`", ""]
        lines += [f"- batch {b}: {report.failed_batches[b][:300]}" for b in sorted(report.failed_batches)[:50]]
        lines.append("")
    if sets := rerun_parameters(report):
        lines += ["## Rerun", "", "Retry this flow run in the UI (finished rows come from the row cache), or start a "
                  "deployment run with one of these parameter sets:", ""]
        lines += [f"```json\n{json.dumps(p)}\n```" for p in sets]
        lines.append("")
    if report.duplicate_ids:
        lines += [f"## Duplicate ids ({len(report.duplicate_ids)})", "",
                  "Each was processed once (the first by text): " + ", ".join(report.duplicate_ids[:50]), ""]
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
