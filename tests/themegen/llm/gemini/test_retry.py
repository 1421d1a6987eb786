import httpx
import pytest
from google.genai import errors
from tenacity import RetryCallState

from themegen.llm.gemini.retry import is_per_day_quota, is_retryable, is_shed, retry_delay_s, wait_for
from themegen.domain.prompt import InvalidAnswer


def quota_error(quota_id: str, retry_delay: str | None) -> errors.ClientError:
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": quota_id}]}]
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    body = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED",
                      "details": details}}
    return errors.ClientError(429, body)


PER_MINUTE = quota_error("GenerateRequestsPerMinutePerProjectPerModel", "12s")
PER_DAY = quota_error("GenerateRequestsPerDayPerProjectPerModel", None)


def test_retry_info_delay_is_read():
    assert retry_delay_s(PER_MINUTE) == 12.0
    assert retry_delay_s(quota_error("X", "0.25s")) == 0.25
    assert retry_delay_s(PER_DAY) is None
    assert retry_delay_s(ValueError()) is None


def test_per_day_quota_is_not_retried_but_per_minute_is():
    assert is_per_day_quota(PER_DAY) and not is_retryable(PER_DAY)
    assert not is_per_day_quota(PER_MINUTE) and is_retryable(PER_MINUTE)


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (errors.ServerError(503, {"error": {"code": 503, "status": "UNAVAILABLE"}}), True),
        (errors.ServerError(500, {"error": {"code": 500, "status": "INTERNAL"}}), True),
        (errors.ClientError(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}), False),
        (errors.ClientError(403, {"error": {"code": 403, "status": "PERMISSION_DENIED"}}), False),
        (httpx.ReadTimeout("slow"), True),
        (InvalidAnswer("5 themes"), False),  # handled by one repair retry, not by backoff
        (KeyError("bug"), False),
    ],
)
def test_what_is_retried(exc, retry):
    assert is_retryable(exc) is retry


def _state_after(exc: BaseException, attempt: int) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_wait_honours_retry_info_and_never_waits_less():
    for attempt in range(1, 6):
        assert 12.0 <= wait_for(_state_after(PER_MINUTE, attempt)) <= 13.0


def test_wait_backs_off_exponentially_without_hint():
    error = errors.ServerError(503, {"error": {"code": 503}})
    first, fifth = wait_for(_state_after(error, 1)), wait_for(_state_after(error, 5))
    assert 0.5 <= first <= 1.5
    assert 8.0 <= fifth <= 9.0


def test_a_429_naming_no_quota_is_shed_load_and_retried():
    shed = errors.ClientError(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "busy"}})
    assert is_shed(shed) and is_retryable(shed)
    assert not is_shed(PER_MINUTE) and not is_shed(PER_DAY)
    assert not is_shed(errors.ServerError(503, {"error": {"code": 503, "status": "UNAVAILABLE"}}))
