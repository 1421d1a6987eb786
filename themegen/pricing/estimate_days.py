"""Days a run needs under a per-day quota, at each rows-per-request packing, and the packing to use.

30,000 rows at one row per request take three days of a 10,000-requests-a-day quota; at ten rows per
request they fit in one. The estimate shows the days at every packing and picks the packing the run
will use: the configured one when it fits in a day, else the smallest that fits (fewer rows per
request lose fewer items to a bad packed answer), else the one that needs the fewest days. The flow
applies the same rule to the rows it has to theme (THEMEGEN_PACK_TO_FIT_DAY), by requests only: the
tokens per row are not known there, and the day's budget (themegen/limiter/day.py) stops the run at
THEMEGEN_TPD whatever the packing.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from themegen.config.settings import Settings

PACKINGS = (1, 2, 5, 10, 20, 50)  # rows per request shown (the setting allows 1..50)


class PackingDays(BaseModel):
    rows_per_request: int
    requests: int
    input_tokens: int | None = None
    days: float


def days_per_packing(texts: int, rpd: int | None, tpd: int | None, configured: int,
                     row_tokens: float | None = None, instruction_tokens: float = 0.0) -> list[PackingDays]:
    """Requests, input tokens and days for `texts` texts at each packing (pure). row_tokens: input tokens of
    one row sent alone, of which instruction_tokens are the instructions, sent once per request when packed."""
    found = []
    for k in sorted({*PACKINGS, configured}):
        requests = math.ceil(texts / k)
        tokens = None if row_tokens is None else round(texts * (row_tokens - instruction_tokens)
                                                       + requests * instruction_tokens)
        days = max(requests / rpd if rpd else 0.0, tokens / tpd if tpd and tokens is not None else 0.0)
        found.append(PackingDays(rows_per_request=k, requests=requests, input_tokens=tokens, days=days))
    return found


def packing_for_day(options: list[PackingDays], configured: int) -> int:
    """The packing a run uses (pure): the configured one if it fits a day, else the smallest larger one that
    does, else the one needing the fewest days; never fewer rows per request than configured."""
    larger = [o for o in options if o.rows_per_request >= configured]
    fits = [o for o in larger if o.days <= 1]
    if fits:
        return min(fits, key=lambda o: o.rows_per_request).rows_per_request
    return min(larger, key=lambda o: (o.days, o.rows_per_request)).rows_per_request


def fit_day(settings: Settings, rows: int) -> Settings:
    """The run's settings, packed to fit the day's request quota when THEMEGEN_RPD is set and the configured
    rows_per_request would need more than a day (themegen/pricing/estimate_days.py)."""
    if settings.rpd is None or not settings.pack_to_fit_day:
        return settings
    options = days_per_packing(rows, settings.rpd, None, settings.rows_per_request)
    packing = packing_for_day(options, settings.rows_per_request)
    if packing == settings.rows_per_request:
        return settings
    days = {o.rows_per_request: o.days for o in options}
    print(f"{rows:,} rows at {settings.rows_per_request} per request need {days[settings.rows_per_request]:.1f} "
          f"days of {settings.rpd:,} requests a day (THEMEGEN_RPD): sending {packing} rows per request "
          f"({days[packing]:.1f} days)")
    return settings.with_overrides(rows_per_request=packing)


def day_lines(options: list[PackingDays], packing: int, rpd: int | None, tpd: int | None) -> list[str]:
    """The estimate's per-day table (plain text)."""
    quota = " and ".join(q for q in (f"{rpd:,} requests" if rpd else "", f"{tpd:,} input tokens" if tpd else "") if q)
    lines = [f"  days at {quota} a day (THEMEGEN_RPD / THEMEGEN_TPD), by rows per request:",
             f"    {'rows/request':>12}  {'requests':>10}  {'input tokens':>13}  {'days':>6}"]
    for o in options:
        tokens = f"{o.input_tokens:,}" if o.input_tokens is not None else "n/a"
        mark = "   <- the run uses this" if o.rows_per_request == packing else ""
        lines.append(f"    {o.rows_per_request:>12}  {o.requests:>10,}  {tokens:>13}  {o.days:>6.2f}{mark}")
    best = next(o for o in options if o.rows_per_request == packing)
    lines.append(f"  -> rows_per_request={packing}: " + (
        "fits in one day" if best.days <= 1 else
        f"no packing fits in one day; {math.ceil(best.days)} days (the run stops at each day's quota and continues "
        "after the reset)"))
    return lines
