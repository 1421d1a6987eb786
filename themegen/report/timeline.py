"""Rows settled and HTTP 429s over a run's time, in a fixed number of buckets (pure).

The tally must not grow with the run (issue 12), so the series never holds more than BUCKETS
buckets: when a run outlives them, neighbouring buckets merge and each covers twice the time.
Batches report counters when they end, so a batch's counts are spread evenly over the seconds it
took; the chart says so.
"""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import BaseModel, Field


class RunTimeline(BaseModel):
    BUCKETS: ClassVar[int] = 60
    FIRST_BUCKET_S: ClassVar[float] = 0.25  # fine enough to show the shape of a run of a few seconds

    bucket_s: float = FIRST_BUCKET_S
    rows: list[int] = Field(default_factory=lambda: [0] * RunTimeline.BUCKETS)
    http_429: list[int] = Field(default_factory=lambda: [0] * RunTimeline.BUCKETS)
    end_s: float = Field(0.0, description="when the last batch counted here ended, seconds since the run began")

    def add(self, start_s: float, end_s: float, rows: int, http_429: int) -> None:
        """Count a batch that ran from start_s to end_s (seconds since the run began)."""
        end_s = max(0.0, end_s)
        start_s = min(max(0.0, start_s), end_s)
        while end_s > self.BUCKETS * self.bucket_s:
            self._halve_resolution()
        self.end_s = max(self.end_s, end_s)
        for series, count in ((self.rows, rows), (self.http_429, http_429)):
            for i, share in self._spread(start_s, end_s, count):
                series[i] += share

    def _bucket_ending(self, t: float) -> int:
        """The bucket holding the instant t as an end: bucket i spans (i * bucket_s, (i + 1) * bucket_s]."""
        return max(0, math.ceil(t / self.bucket_s) - 1)

    def _spread(self, start_s: float, end_s: float, count: int) -> list[tuple[int, int]]:
        """Whole shares of `count` per bucket, in proportion to the time the batch spent in each."""
        first, last = int(start_s / self.bucket_s), self._bucket_ending(end_s)
        if first >= last or not count:
            return [(last, count)]
        shares, given = [], 0
        for i in range(first, last + 1):
            until = min(end_s, (i + 1) * self.bucket_s)
            # Rounding the running total keeps the shares whole and their sum exactly `count`.
            owed = round(count * (until - start_s) / (end_s - start_s))
            shares.append((i, owed - given))
            given = owed
        return shares

    def _halve_resolution(self) -> None:
        for series in (self.rows, self.http_429):
            merged = [series[i] + series[i + 1] for i in range(0, self.BUCKETS, 2)]
            series[:] = merged + [0] * (self.BUCKETS - len(merged))
        self.bucket_s *= 2

    def buckets_used(self) -> int:
        """Buckets from the run's start to its last batch's end (none for a run of no time)."""
        return math.ceil(self.end_s / self.bucket_s)

    def seconds_covered(self, i: int) -> float:
        """How long the run lasted in bucket i: its last used bucket is only partly covered."""
        return max(0.0, min(self.bucket_s, self.end_s - i * self.bucket_s))

    def rows_per_second(self) -> list[float]:
        """Rows settled per second in each used bucket: its count over the time the run spent in it."""
        return [self.rows[i] / self.seconds_covered(i) for i in range(self.buckets_used())]
