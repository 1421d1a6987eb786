"""The run-wide stop after a per-day quota refusal.

A per-minute 429 clears within a minute and is retried; a per-day one (QuotaFailure with a PerDay
quota id) does not clear for hours, so retrying, or sending any other row, only burns requests
that will be refused. The first such answer trips this stop: no request of the run is sent after
it, every row not answered becomes a retryable failure with this reason, and the run ends Failed
with everything answered so far written to Spanner and kept in the row cache.
"""

from __future__ import annotations


class DailyQuotaStop:
    def __init__(self) -> None:
        self.reason: str | None = None

    def trip(self, detail: object) -> None:
        if self.reason is None:
            self.reason = (
                f"Gemini per-day quota exhausted ({detail}); nothing more was sent. Everything answered "
                "so far is kept in Spanner and the row cache: after the quota resets, retry this flow "
                "run or start the same run again (answered rows come from the cache, not from Gemini)"
            )

    @property
    def tripped(self) -> bool:
        return self.reason is not None


class QuotaStopped(RuntimeError):
    """Raised instead of sending once the stop is tripped; the message is the stop's reason."""
