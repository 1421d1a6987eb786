"""The live line `themegen run` shows on stderr while the flow runs in its process:

    rows ━━━━━━━━━━╺━━━━━━━━━  14,200/30,000  412 rows/s  ETA 00:00:38  429s 3  failed 2 rows

It draws the same counters the flow's Prefect progress artifact publishes (themegen/report/progress.py),
only in a terminal (a pipe or a CI log gets the final table alone), twice a second at most.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from themegen.report.progress import ProgressCounts, add_listener, remove_listener


def describe(counts: ProgressCounts, seconds: float) -> str:
    """The text after the bar: rows done/total, rows/s since the start, ETA at that rate, 429s and
    failures so far."""
    if not counts.rows_total:
        return "checking the settings and counting the rows"
    rate = counts.rows_done / seconds if seconds > 0 else 0.0
    left = counts.rows_total - counts.rows_done
    eta = time.strftime("%H:%M:%S", time.gmtime(left / rate)) if rate > 0 and left / rate < 86_400 else "-:--:--"
    failed = f"failed {_count(counts.failed_rows, 'row')}"
    if counts.failed_batches:
        failed += f", {_count(counts.failed_batches, 'batch')}"
    return (f"{counts.rows_done:,}/{counts.rows_total:,}  {rate:,.0f} rows/s  ETA {eta}  "
            f"429s {counts.http_429:,}  {failed}")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}{'es' if noun.endswith('ch') else 's'}"


class ProgressLine:
    """A context manager: on enter it listens to the run's progress and draws the line."""

    def __init__(self, console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("rows"), BarColumn(bar_width=20), TextColumn("{task.fields[counts]}"),
            console=console, transient=True, refresh_per_second=2,  # redraws cost the run CPU
            disable=not console.is_terminal,
        )  # fmt: skip
        self._task = self._bar.add_task("rows", total=None, counts=describe(ProgressCounts(0, 0, 0), 0))
        self._started: float | None = None  # when the batches began: the rate leaves out checks and snapshot

    def __enter__(self) -> ProgressLine:
        self._bar.start()
        add_listener(self.update)
        return self

    def __exit__(self, *exc_info) -> None:
        remove_listener(self.update)
        self._bar.stop()

    def update(self, counts: ProgressCounts) -> None:
        if self._started is None and counts.rows_total:
            self._started = time.monotonic()
        seconds = time.monotonic() - self._started if self._started is not None else 0.0
        self._bar.update(self._task, completed=counts.rows_done, total=counts.rows_total or None,
                         counts=describe(counts, seconds))

    def text(self) -> str:
        """The line as plain text (what a terminal shows, without colours)."""
        capture = Console(width=160, force_terminal=False, color_system=None)
        with capture.capture() as captured:
            capture.print(self._bar.get_renderable())
        return captured.get().strip()
