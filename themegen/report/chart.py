"""The run report's charts: small SVG bar charts drawn from the tally's fixed-size counters (pure).

They go into the markdown report as `![title](data:image/svg+xml;base64,...)` images, because that is
what both Prefect 3.9 UIs show: the React UI's markdown sanitizer drops inline `<svg>` but lets
`data:image/...` through as an image source, and the Vue UI turns every markdown image into an
`<img>`. An SVG inside an `<img>` runs no script and loads nothing, so the chart is self-contained.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from themegen.domain.models import LatencyHistogram
from themegen.report.timeline import RunTimeline

THROUGHPUT_TITLE = "Rows per second and HTTP 429s over the run"
LATENCY_TITLE = "Gemini request latency"

WIDTH, LEFT, RIGHT = 720, 64, 24
PLOT_WIDTH = WIDTH - LEFT - RIGHT
AXIS_LABELS = 28  # room under a panel for its x labels
INK, MUTED, GRID = "#1f2328", "#59636e", "#d1d9e0"


@dataclass(frozen=True)
class Bar:
    start: float  # where the bar begins and ends, as fractions of the plot's width
    end: float
    value: float


@dataclass(frozen=True)
class Panel:
    label: str  # what the y axis counts
    bars: list[Bar]
    color: str
    height: int
    x_labels: list[tuple[float, str]]  # (fraction of the plot's width, text)
    value_labels: bool = False  # print each non-zero bar's value above it


def markdown_image(title: str, svg: str) -> str:
    """A markdown image both Prefect UIs render (see the module docstring)."""
    return f"![{title}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"


def throughput_chart(timeline: RunTimeline, environment: str) -> str | None:
    """Rows settled per second over the run, and the HTTP 429s Gemini answered; None for a run of no time."""
    if not (used := timeline.buckets_used()):
        return None
    end, width = timeline.end_s, timeline.bucket_s
    extents = [(i * width / end, min((i + 1) * width, end) / end) for i in range(used)]
    ticks = _time_ticks(end)
    panels = [
        Panel("rows settled / s", [Bar(a, b, v) for (a, b), v in zip(extents, timeline.rows_per_second())],
              "#2f6fdb", 150, ticks),
        Panel(f"HTTP 429s per {_seconds(width)}", [Bar(a, b, v) for (a, b), v in zip(extents, timeline.http_429)],
              "#d9480f", 80, ticks),
    ]
    notes = [f"measured in this run ({environment}) · {sum(timeline.http_429):,} HTTP 429s in all",
             "time since the run began its batches; each batch's counts spread evenly over the seconds it ran"]
    return _svg(THROUGHPUT_TITLE, notes, panels)


def latency_chart(latency: LatencyHistogram, environment: str) -> str | None:
    """How many answered Gemini requests took how long; None when no request was answered."""
    if not (answered := sum(latency.counts)):
        return None
    n = len(latency.counts)
    labels = [f"≤{_milliseconds(b)}" for b in latency.BOUNDS_MS] + [f">{_milliseconds(latency.BOUNDS_MS[-1])}"]
    panel = Panel("answered requests", [Bar(i / n, (i + 1) / n, c) for i, c in enumerate(latency.counts)],
                  "#7048e8", 160, [((i + 0.5) / n, text) for i, text in enumerate(labels)], value_labels=True)
    p50, p95 = _milliseconds(latency.percentile(50)), _milliseconds(latency.percentile(95))
    notes = [f"measured in this run ({environment}) · {answered:,} answered requests, each timed by this process",
             f"p50 ≤ {p50}, p95 ≤ {p95} (bucket bounds)"]
    return _svg(LATENCY_TITLE, notes, [panel])


def _svg(title: str, notes: list[str], panels: list[Panel]) -> str:
    header = 32 + 16 * len(notes)
    height = header + sum(p.height + AXIS_LABELS + 22 for p in panels)
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
         f'role="img" aria-label={quoteattr(title)} font-family="sans-serif" font-size="11" fill="{INK}">'),
        f"<title>{escape(title)}</title>",
        # Opaque: the UI's dark theme would hide dark text on a transparent image.
        f'<rect width="{WIDTH}" height="{height}" rx="6" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        *(f'<text x="{LEFT}" y="{40 + 16 * i}" fill="{MUTED}">{escape(note)}</text>' for i, note in enumerate(notes)),
    ]
    top = header + 22
    for panel in panels:
        parts += _panel(panel, top)
        top += panel.height + AXIS_LABELS + 22
    return "".join(parts) + "</svg>"


def _panel(panel: Panel, top: int) -> list[str]:
    peak = _nice_ceiling(max((b.value for b in panel.bars), default=0))
    base = top + panel.height
    parts = [f'<text x="{LEFT}" y="{top - 8}" font-weight="bold">{escape(panel.label)}</text>']
    for value in (0, peak / 2, peak) if peak >= 2 else (0, peak):  # no half a request
        y = base - panel.height * value / peak
        parts += [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>',
                  f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_number(value)}</text>']
    # One path for all bars keeps the image small whatever the number of buckets.
    path = []
    for bar in panel.bars:
        x, w = LEFT + bar.start * PLOT_WIDTH, (bar.end - bar.start) * PLOT_WIDTH
        h = panel.height * bar.value / peak
        gap = 1 if w > 3 else 0
        if h > 0:
            path.append(f"M{x + gap:.1f} {base:.1f}v{-h:.1f}h{w - 2 * gap:.1f}v{h:.1f}z")
        if panel.value_labels and bar.value:
            parts.append(f'<text x="{x + w / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">'
                         f"{_number(bar.value)}</text>")
    parts.append(f'<path d="{"".join(path)}" fill="{panel.color}"/>')
    parts += [(f'<text x="{LEFT + f * PLOT_WIDTH:.1f}" y="{base + 16}" text-anchor="middle" fill="{MUTED}">'
               f"{escape(text)}</text>") for f, text in panel.x_labels]
    return parts


def _time_ticks(end_s: float) -> list[tuple[float, str]]:
    """About five round times from 0 to the run's end, in the unit that suits its length."""
    unit, scale = ("s", 1) if end_s < 120 else ("min", 60) if end_s < 7_200 else ("h", 3_600)
    step = _nice_ceiling(end_s / scale / 5)
    return [(k * step * scale / end_s, f"{k * step:g} {unit}") for k in range(int(end_s / scale / step) + 1)]


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above value (1 for nothing to show)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value * (1 - 1e-9))


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def _seconds(s: float) -> str:
    return f"{s:g} s" if s < 600 else f"{s / 60:.3g} min"


def _milliseconds(ms: int | None) -> str:
    return "?" if ms is None else f"{ms} ms" if ms < 1_000 else f"{ms / 1_000:g} s"
