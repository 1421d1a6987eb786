"""Quotas (RPM, input TPM over a sliding minute; RPD per calendar day), one set per simulator like a
one-model project: generation's (rpm, tpm, rpd) and, apart, the embedding model's (embed_rpm, embed_tpm).

Only admitted requests are recorded: the real API does not charge rejected calls to the quota,
and a client that backs off for `retryDelay` must then really get through. The day is the real
API's: it resets at midnight in `day_reset_tz` (Pacific time), not 24 h after each request; a test
that cannot wait for midnight starts the next day at once (`new_day`, POST /_sim/new_day).
"""

from collections import deque
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .config import SimConfig

MINUTE_S = 60.0
DAY_REFUSAL_RETRY_S = 13.0  # what the real API's per-day 429 says in its RetryInfo (seconds, not the reset)

_REQUESTS_METRIC = "generativelanguage.googleapis.com/generate_content_requests"
_INPUT_TOKENS_METRIC = "generativelanguage.googleapis.com/generate_content_input_token_count"
RPM_QUOTA_ID = "GenerateRequestsPerMinutePerProjectPerModel"
TPM_QUOTA_ID = "GenerateContentInputTokensPerModelPerMinute"
RPD_QUOTA_ID = "GenerateRequestsPerDayPerProjectPerModel"


_EMBED_REQUESTS_METRIC = "generativelanguage.googleapis.com/embed_content_requests"
_EMBED_TOKENS_METRIC = "generativelanguage.googleapis.com/embed_content_input_token_count"
EMBED_RPM_QUOTA_ID = "EmbedContentRequestsPerMinutePerProjectPerModel"
EMBED_TPM_QUOTA_ID = "EmbedContentInputTokensPerMinutePerProjectPerModel"


class QuotaKind(NamedTuple):
    """Which knobs limit a set of windows, and the names its 429s give."""

    rpm_field: str
    tpm_field: str
    rpd_field: str | None
    requests_metric: str
    rpm_quota_id: str
    tokens_metric: str
    tpm_quota_id: str


GENERATION = QuotaKind("rpm", "tpm", "rpd", _REQUESTS_METRIC, RPM_QUOTA_ID, _INPUT_TOKENS_METRIC, TPM_QUOTA_ID)
EMBEDDING = QuotaKind("embed_rpm", "embed_tpm", None, _EMBED_REQUESTS_METRIC, EMBED_RPM_QUOTA_ID,
                      _EMBED_TOKENS_METRIC, EMBED_TPM_QUOTA_ID)


class Violation(NamedTuple):
    quota_metric: str
    quota_id: str
    quota_value: int
    retry_delay_s: float | None  # None: no RetryInfo


def rpm_violation(rpm: int, retry_delay_s: float) -> Violation:
    return Violation(_REQUESTS_METRIC, RPM_QUOTA_ID, rpm, retry_delay_s)


class QuotaWindows:
    def __init__(self, kind: QuotaKind = GENERATION) -> None:
        self.kind = kind
        self.reset()

    def reset(self) -> None:
        # Minute window keeps exact timestamps so retryDelay can say when a slot frees up.
        self._minute: deque[tuple[float, int]] = deque()
        self._minute_tokens = 0
        self.new_day()

    def new_day(self) -> None:
        """Start the next quota day now (what midnight Pacific time does to the real API's)."""
        self._day: date | None = None
        self._day_requests = 0

    def day_requests(self, config: SimConfig) -> int:
        """Requests admitted so far in the current quota day."""
        today = datetime.now(ZoneInfo(config.day_reset_tz)).date()
        if self._day != today:
            if self._day is not None:
                self._day_requests = 0
            self._day = today
        return self._day_requests

    def _expire(self, now: float) -> None:
        minute = self._minute
        while minute and minute[0][0] <= now - MINUTE_S:
            self._minute_tokens -= minute.popleft()[1]

    def check(self, now: float, tokens: int, config: SimConfig, requests: int = 1) -> Violation | None:
        """The quota a call of `tokens` input tokens, counting as `requests` requests (an embedding
        batch counts each text), would exceed at `now`, if any."""
        self._expire(now)
        kind = self.kind
        rpd = getattr(config, kind.rpd_field) if kind.rpd_field else None
        rpm, tpm = getattr(config, kind.rpm_field), getattr(config, kind.tpm_field)
        if rpd is not None and self.day_requests(config) >= rpd:
            # The real API sends a RetryInfo with a per-day refusal too, of seconds: retrying on it is
            # pointless, the quota id (PerDay) is what a client must read.
            return Violation(_REQUESTS_METRIC, RPD_QUOTA_ID, rpd, DAY_REFUSAL_RETRY_S)
        if rpm is not None and len(self._minute) + requests > rpm:
            # A slot frees once the (len + requests - rpm) oldest requests have left the window; a call
            # of more requests than the whole quota never fits: "a full window".
            excess = len(self._minute) + requests - rpm
            oldest_ts = self._minute[excess - 1][0] if requests <= rpm else now
            return Violation(kind.requests_metric, kind.rpm_quota_id, rpm, oldest_ts + MINUTE_S - now)
        if tpm is not None and self._minute_tokens + tokens > tpm:
            delay = self._tpm_delay(now, tokens, tpm)
            return Violation(kind.tokens_metric, kind.tpm_quota_id, tpm, delay)
        return None

    def _tpm_delay(self, now: float, tokens: int, tpm: int) -> float:
        excess = self._minute_tokens + tokens - tpm
        for ts, used in self._minute:
            excess -= used
            if excess <= 0:
                return ts + MINUTE_S - now
        # A single request larger than the whole quota never fits; say "a full window".
        return MINUTE_S

    def record(self, now: float, tokens: int, config: SimConfig, requests: int = 1) -> None:
        self._minute.extend([(now, tokens)] + [(now, 0)] * (requests - 1))
        self._minute_tokens += tokens
        self.day_requests(config)
        self._day_requests += requests
