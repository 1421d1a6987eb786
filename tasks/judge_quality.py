"""Step 3b: judge a seeded sample of the run's themes (themegen/quality) and emit the rates as a
Prefect event, so an automation can warn when, say, grounded < 0.9. Never fails the run."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from themegen.cache import open_cache
from themegen.config.settings import Settings
from themegen.domain.models import BatchPlan
from themegen.llm.gemini.client import close_clients
from themegen.quality import open_judge
from themegen.quality.judging import judge_run
from themegen.quality.models import QualityReport
from themegen.sink import open_sink
from themegen.source import open_source

EVENT = "themegen.quality.judged"


def environment(settings: Settings) -> str:
    """The stack's label; on the local stack it says the figures come from the Gemini simulator."""
    label = settings.stack or "GCP"
    return f"{label}: figures from the Gemini simulator's judge" if "simulated" in label else label


def emit_rates(report: QualityReport, settings: Settings, flow_run_id: str | None) -> None:
    emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"themegen.run.{flow_run_id or 'adhoc'}", "themegen.model": settings.model,
                  "themegen.environment": environment(settings)},
        payload={"rates": {rate.check: round(rate.rate, 4) for rate in report.rates},
                 "intervals": {rate.check: [round(rate.low, 4), round(rate.high, 4)] for rate in report.rates},
                 "rows_judged": report.rows_judged, "judge_model": report.judge_model,
                 "rubric_version": report.rubric_version, "error": report.error},
    )


@task(name="judge-quality", cache_policy=NO_CACHE)
async def judge_quality(plan: BatchPlan, settings: Settings, flow_run_id: str | None,
                        stop_reason: str | None = None) -> QualityReport:
    if settings.quality_sample_rows == 0:
        return QualityReport(enabled=False)
    if not plan.batches:  # e.g. a nightly run with nothing to do: the last run that themed rows judged them
        return QualityReport(enabled=False, why_not="this run themed no rows")
    if stop_reason:  # a per-day quota or a sink outage: nothing more is sent
        return QualityReport(sample_size=settings.quality_sample_rows, error=f"not judged: the run stopped ({stop_reason})")
    source, sink = open_source(settings), open_sink(settings)
    try:
        report = await judge_run(settings, plan, source, sink, await open_cache(settings), open_judge(settings),
                                 flow_run_id)
    except Exception as exc:  # noqa: BLE001 - opening an edge failed: reported, the themes stay
        report = QualityReport(error=f"{type(exc).__name__}: {str(exc)[:300]}", sample_size=settings.quality_sample_rows)
    finally:
        source.close()
        sink.close()
        await close_clients()
    print(f"quality ({environment(settings)}): {report.rows_judged} rows judged" + "".join(
        f", {rate.check} {rate.rate:.3f} [{rate.low:.3f}, {rate.high:.3f}]" for rate in report.rates)
        + (f"; error: {report.error}" if report.error else ""))
    emit_rates(report, settings, flow_run_id)
    return report
