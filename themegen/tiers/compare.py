"""Every tier side by side for one workload: cost, expected time, and which `auto` picks (pure)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from themegen.tiers import TIERS
from themegen.tiers.choose import Choice, Workload, expected_seconds


class TierEstimate(BaseModel):
    tier: str
    usd: float | None = Field(description="the standard cost x the tier's price factor; None when unknown")
    expected_hours: float = Field(description="online: the slower of quota and latency; batch: its turnaround")
    synchronous: bool
    available: str | None = Field(None, description="None = a run can use it; otherwise what to use instead")
    summary: str = ""


def compare_tiers(usd_standard: float | None, work: Workload) -> list[TierEstimate]:
    return [TierEstimate(tier=t.name, usd=None if usd_standard is None else usd_standard * t.price_factor,
                         expected_hours=expected_seconds(t, work) / 3600, synchronous=t.synchronous,
                         available=t.available, summary=t.summary)
            for t in TIERS.values()]


def _time(hours: float, synchronous: bool) -> str:
    text = f"{hours:,.1f} h" if hours >= 1 else f"{hours * 60:,.0f} min"
    return text if synchronous else f"up to {text}"


def tier_lines(tiers: list[TierEstimate], configured: str, deadline: str | None, auto: Choice | None,
               usd: Callable[[float | None], str]) -> list[str]:
    """The terminal table: one line per tier, the configured one and auto's pick marked."""
    lines = [f"  {'tier':<10}{'USD':<14}{'expected time':<18}what it is"]
    for t in tiers:
        marks = [m for m, hit in (("configured", t.tier == configured),
                                  (f"auto for {deadline}", auto is not None and auto.tier.name == t.tier),
                                  ("not available yet", t.available is not None)) if hit]
        lines.append(f"  {t.tier:<10}{usd(t.usd):<14}{_time(t.expected_hours, t.synchronous):<18}{t.summary}"
                     + (f"   <- {', '.join(marks)}" if marks else ""))
    if auto is not None:
        lines.append(f"  auto with deadline {deadline}: {auto.tier.name} ({auto.why})")
    else:
        lines.append("  auto: give a deadline (THEMEGEN_DEADLINE or --deadline, e.g. 2h, 1d) to see its pick")
    return lines
