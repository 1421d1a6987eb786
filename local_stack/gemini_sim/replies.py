"""HTTP replies shaped like Google's: JSON bodies, `{"error": {code, message, status}}` errors and
the Gemini API's key check, shared by the generateContent, batch and files handlers."""

import json
import math
from typing import Any

from aiohttp import web

from .quota import Violation
from .state import Simulator

# v1 / v1beta / v1alpha for the Gemini API, v1beta1 for Vertex AI.
VERSION_PATH = "{version:v1[a-z0-9]*}"


def json_response(status: int, payload: Any) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload, ensure_ascii=False).encode(),
        content_type="application/json",
    )


def error(
    sim: Simulator, code: int, status: str, message: str, details: list | None = None, tally: Any = None
) -> web.Response:
    """`tally`: the counters the error is counted in (an object with http_<code> fields; sim.stats by default)."""
    tally = sim.stats if tally is None else tally
    setattr(tally, f"http_{code}", getattr(tally, f"http_{code}") + 1)
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        body["details"] = details
    return json_response(code, {"error": body})


def duration(seconds: float) -> str:
    """google.protobuf.Duration JSON form, rounded up to the millisecond ("3s", "0.2s")."""
    ms = max(0, math.ceil(seconds * 1000))
    return f"{ms // 1000}.{ms % 1000:03d}".rstrip("0").rstrip(".") + "s"


EXHAUSTED_MESSAGE = "Resource has been exhausted (e.g. check quota)."
# The real API's per-day refusal: its message, a Help link, the location among the dimensions and a
# RetryInfo of seconds (python-genai issue #2044 quotes one); only the PerDay quota id tells it apart.
DAY_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more information "
               "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")
_HELP = {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}


def quota_error(sim: Simulator, model: str, violation: Violation, tally: Any = None) -> web.Response:
    per_day = "PerDay" in violation.quota_id
    dimensions = {"location": "global", "model": model} if per_day else {"model": model}
    details: list[dict[str, Any]] = [
        *([_HELP] if per_day else []),
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": violation.quota_metric,
                    "quotaId": violation.quota_id,
                    "quotaDimensions": dimensions,
                    "quotaValue": str(violation.quota_value),
                }
            ],
        },
    ]
    if violation.retry_delay_s is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": duration(violation.retry_delay_s),
            }
        )
    return error(sim, 429, "RESOURCE_EXHAUSTED", DAY_MESSAGE if per_day else EXHAUSTED_MESSAGE, details, tally)


def overloaded(sim: Simulator, tally: Any = None) -> web.Response:
    return error(sim, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.", tally=tally)


INTERNAL_MESSAGE = (
    "An internal error has occurred. Please retry or report in"
    " https://developers.generativeai.google/guide/troubleshooting"
)


def internal(sim: Simulator, tally: Any = None) -> web.Response:
    return error(sim, 500, "INTERNAL", INTERNAL_MESSAGE, tally=tally)


def invalid_argument(sim: Simulator, message: str, tally: Any = None) -> web.Response:
    return error(sim, 400, "INVALID_ARGUMENT", message, tally=tally)


def not_found(sim: Simulator, what: str) -> web.Response:
    return error(sim, 404, "NOT_FOUND", f"{what} not found.")


async def read_json(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def checked_json(sim: Simulator, request: web.Request) -> dict[str, Any] | web.Response:
    """A request's JSON object body once its key passes, else the error reply to send."""
    if (rejected := bad_api_key(sim, request)) is not None:
        return rejected
    body = await read_json(request)
    return body if body is not None else invalid_argument(sim, "Invalid JSON payload received.")


def bad_api_key(sim: Simulator, request: web.Request, tally: Any = None) -> web.Response | None:
    """The real Gemini API answers a wrong key with 400 INVALID_ARGUMENT / API_KEY_INVALID."""
    expected = sim.config.api_key
    if expected is None or "authorization" in request.headers:  # Vertex AI uses OAuth tokens
        return None
    if request.headers.get("x-goog-api-key") == expected:
        return None
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
    }
    return error(
        sim, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info], tally
    )
