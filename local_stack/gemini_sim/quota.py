"""Sliding-window quotas (RPM, input TPM, RPD), one set per simulator like a one-model project.

Only admitted requests are recorded: the real API does not charge rejected calls to the quota,
and a client that backs off for `retryDelay` must then really get through.
"""

import math
from collections import deque
from typing import NamedTuple

from .config import SimConfig

MINUTE_S = 60.0
DAY_S = 86_400

_REQUESTS_METRIC = "generativelanguage.googleapis.com/generate_content_requests"
_INPUT_TOKENS_METRIC = "generativelanguage.googleapis.com/generate_content_input_token_count"
RPM_QUOTA_ID = "GenerateRequestsPerMinutePerProjectPerModel"
TPM_QUOTA_ID = "GenerateContentInputTokensPerModelPerMinute"
RPD_QUOTA_ID = "GenerateRequestsPerDayPerProjectPerModel"


class Violation(NamedTuple):
    quota_metric: str
    quota_id: str
    quota_value: int
    retry_delay_s: float | None  # None: no RetryInfo (per-day quota: retrying soon is pointless)


def rpm_violation(rpm: int, retry_delay_s: float) -> Violation:
    return Violation(_REQUESTS_METRIC, RPM_QUOTA_ID, rpm, retry_delay_s)


class QuotaWindows:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # Minute window keeps exact timestamps so retryDelay can say when a slot frees up.
        self._minute: deque[tuple[float, int]] = deque()
        self._minute_tokens = 0
        # Day window only needs a count; per-second buckets bound it to 86 400 entries.
        self._day: deque[list[int]] = deque()
        self._day_requests = 0

    def _expire(self, now: float) -> None:
        minute, day = self._minute, self._day
        while minute and minute[0][0] <= now - MINUTE_S:
            self._minute_tokens -= minute.popleft()[1]
        while day and day[0][0] <= now - DAY_S:
            self._day_requests -= day.popleft()[1]

    def check(self, now: float, tokens: int, config: SimConfig) -> Violation | None:
        """The quota a request of `tokens` input tokens would exceed at `now`, if any."""
        self._expire(now)
        if config.rpd is not None and self._day_requests >= config.rpd:
            return Violation(_REQUESTS_METRIC, RPD_QUOTA_ID, config.rpd, None)
        if config.rpm is not None and len(self._minute) >= config.rpm:
            # A slot frees once the (len - rpm + 1) oldest requests have left the window.
            oldest_ts = self._minute[len(self._minute) - config.rpm][0]
            return rpm_violation(config.rpm, oldest_ts + MINUTE_S - now)
        if config.tpm is not None and self._minute_tokens + tokens > config.tpm:
            delay = self._tpm_delay(now, tokens, config.tpm)
            return Violation(_INPUT_TOKENS_METRIC, TPM_QUOTA_ID, config.tpm, delay)
        return None

    def _tpm_delay(self, now: float, tokens: int, tpm: int) -> float:
        excess = self._minute_tokens + tokens - tpm
        for ts, used in self._minute:
            excess -= used
            if excess <= 0:
                return ts + MINUTE_S - now
        # A single request larger than the whole quota never fits; say "a full window".
        return MINUTE_S

    def record(self, now: float, tokens: int) -> None:
        self._minute.append((now, tokens))
        self._minute_tokens += tokens
        second = math.floor(now)
        if self._day and self._day[-1][0] == second:
            self._day[-1][1] += 1
        else:
            self._day.append([second, 1])
        self._day_requests += 1
