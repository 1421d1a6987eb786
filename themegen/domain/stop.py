"""The run-wide stop: once Gemini refuses for the day, or Spanner refuses our writes for good,
no further request of the run goes on the wire.

A per-minute 429 clears within a minute and is retried; a per-day one (QuotaFailure with a PerDay
quota id) does not clear for hours, so retrying, or sending any other row, only burns requests
that will be refused. A sink that cannot write means every further answer would be paid for and
then only kept in the row cache. The first such event trips this stop: requests already on the
wire finish (their answers are cached), every request not yet sent - including those waiting in
the limiter - becomes a NOT_SENT failure, and the run ends Failed with this reason.
"""

from __future__ import annotations

AFTER_STOP = (
    "Everything answered so far is kept in the row cache (and in Spanner where it could be written): "
    "{fix}, retry this flow run or start the same run again; only unfinished rows are sent to Gemini."
)


class RunStop:
    def __init__(self) -> None:
        self.reason: str | None = None
        self.in_flight = 0  # requests on the wire now (counted by the generator)

    def trip(self, what: str, fix: str) -> None:
        if self.reason is None:
            self.reason = (f"{what}; nothing more was sent after it ({self.in_flight} requests were in flight "
                           f"then). " + AFTER_STOP.format(fix=fix))

    def trip_daily_quota(self, detail: object) -> None:
        self.trip(f"Gemini per-day quota exhausted ({detail})", "after the quota resets")

    @property
    def tripped(self) -> bool:
        return self.reason is not None


class RunStopped(RuntimeError):
    """Raised instead of sending once the stop is tripped; the message is the stop's reason."""
