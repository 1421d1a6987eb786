"""aiohttp app simulating Gemini's generateContent/countTokens REST API for the local stack.

Every response carries `x-themegen-simulated: true` so nothing downstream can mistake the
simulated themes for real model output. The handler is kept lean (no per-request logging, no
access log) because the simulator must sustain ~1000 requests/s on two cores.
"""

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from .answers import answer_text, extract_rows, prompt_texts, wants_items
from .config import SimConfig
from .quota import RPD_QUOTA_ID, Violation, rpm_violation
from .state import SIMULATOR, Simulator
from .tokens import approx_tokens

SIMULATED_HEADER = "x-themegen-simulated"

# v1 / v1beta / v1alpha for the Gemini API, v1beta1 for Vertex; models/ is stripped by the client.
_MODEL_PATH = "{version:v1[a-z0-9]*}/models/{model:[^/:]+}"
_VERTEX_PATH = (
    "{version:v1[a-z0-9]*}/projects/{project}/locations/{location}"
    "/publishers/google/models/{model:[^/:]+}"
)


def _json_response(status: int, payload: Any) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload, ensure_ascii=False).encode(),
        content_type="application/json",
    )


def _error(
    sim: Simulator, code: int, status: str, message: str, details: list | None = None
) -> web.Response:
    setattr(sim.stats, f"http_{code}", getattr(sim.stats, f"http_{code}") + 1)
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return _json_response(code, {"error": error})


def _duration(seconds: float) -> str:
    """google.protobuf.Duration JSON form, rounded up to the millisecond ("3s", "0.2s")."""
    ms = max(0, math.ceil(seconds * 1000))
    return f"{ms // 1000}.{ms % 1000:03d}".rstrip("0").rstrip(".") + "s"


def _quota_error(sim: Simulator, model: str, violation: Violation) -> web.Response:
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": violation.quota_metric,
                    "quotaId": violation.quota_id,
                    "quotaDimensions": {"model": model},
                    "quotaValue": str(violation.quota_value),
                }
            ],
        }
    ]
    if violation.retry_delay_s is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": _duration(violation.retry_delay_s),
            }
        )
    message = "Resource has been exhausted (e.g. check quota)."
    return _error(sim, 429, "RESOURCE_EXHAUSTED", message, details)


def _overloaded(sim: Simulator) -> web.Response:
    return _error(sim, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def _internal(sim: Simulator) -> web.Response:
    message = (
        "An internal error has occurred. Please retry or report in"
        " https://developers.generativeai.google/guide/troubleshooting"
    )
    return _error(sim, 500, "INTERNAL", message)


async def _read_json(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _bad_api_key(sim: Simulator, request: web.Request) -> web.Response | None:
    """The real Gemini API answers a wrong key with 400 INVALID_ARGUMENT / API_KEY_INVALID."""
    expected = sim.config.api_key
    if expected is None or "authorization" in request.headers:  # Vertex AI uses OAuth tokens
        return None
    if request.headers.get("x-goog-api-key") == expected:
        return None
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
            "domain": "googleapis.com"}
    return _error(sim, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info])


def _invalid_json(sim: Simulator) -> web.Response:
    return _error(sim, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.")


def _admission_error(sim: Simulator, model: str, input_tokens: int) -> web.Response | None:
    """Bursts and quotas, checked before any simulated latency because the real API rejects fast."""
    config = sim.config
    if config.burst_429:
        config.burst_429 -= 1
        violation = rpm_violation(config.rpm or 0, config.burst_retry_delay_s)
        return _quota_error(sim, model, violation)
    if config.burst_503:
        config.burst_503 -= 1
        return _overloaded(sim)
    now = time.monotonic()
    violation = sim.quota.check(now, input_tokens, config)
    if violation is not None:
        if violation.quota_id == RPD_QUOTA_ID and sim.stats.in_progress_at_day_refusal is None:
            sim.stats.in_progress_at_day_refusal = sim.stats.in_progress
        return _quota_error(sim, model, violation)
    sim.quota.record(now, input_tokens)
    return None


async def _generate_content(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    model = request.match_info["model"]
    body = await _read_json(request)
    sim.stats.requests += 1
    sim.stats.after_day_refusal += sim.stats.in_progress_at_day_refusal is not None
    if (rejected := _bad_api_key(sim, request)) is not None:
        return rejected
    if body is None:
        return _invalid_json(sim)
    prompt, user_text = prompt_texts(body)
    rows = extract_rows(user_text)
    row_requests = sim.stats.row_requests
    for row_id, _ in rows:
        row_requests[row_id] = row_requests.get(row_id, 0) + 1
    input_tokens = approx_tokens(prompt)
    rejection = _admission_error(sim, model, input_tokens)
    if rejection is not None:
        return rejection
    sim.stats.in_progress += 1
    try:
        return await _answer(sim, model, body, rows, input_tokens)
    finally:
        sim.stats.in_progress -= 1


async def _answer(sim: Simulator, model: str, body: dict[str, Any], rows: list, input_tokens: int) -> web.Response:
    """An admitted request: latency, injected faults, then the answer."""
    config = sim.config
    if config.latency_s or config.latency_jitter_s:
        jitter = sim.rng.uniform(-config.latency_jitter_s, config.latency_jitter_s)
        await asyncio.sleep(max(0.0, config.latency_s + jitter))
        config = sim.config  # knobs may have changed while this request was "generating"

    if config.error_ids and not set(config.error_ids).isdisjoint(r for r, _ in rows):
        return _internal(sim)
    if sim.chance(config.error_rate_500):
        return _internal(sim)
    if sim.chance(config.error_rate_503):
        return _overloaded(sim)

    items = wants_items(body.get("generationConfig"))
    answered = rows if items else rows[:1]
    finish_reason = config.finish_reason if sim.chance(config.finish_reason_rate) else "STOP"
    broken: dict[int, str] = {}
    not_json = False
    if finish_reason == "STOP":
        broken, not_json = sim.breakage([r for r, _ in answered], items)
    text = answer_text(rows, items, broken, not_json)

    candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
    if finish_reason == "MAX_TOKENS":
        text = text[: len(text) // 2]  # cut mid-JSON, like a too-small maxOutputTokens
    elif finish_reason != "STOP":
        text = ""  # blocked answers (SAFETY, RECITATION, ...) come without content
    if text:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    output_tokens = approx_tokens(text) if text else 0

    stats = sim.stats
    stats.ok += 1
    stats.rows_answered += len(answered)
    stats.input_tokens += input_tokens
    stats.output_tokens += output_tokens
    stats.invalid_outputs += bool(broken or not_json)
    stats.non_stop_finishes += finish_reason != "STOP"
    return _json_response(
        200,
        {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": input_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": input_tokens + output_tokens,
            },
            "modelVersion": model,
        },
    )


async def _count_tokens(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    if (rejected := _bad_api_key(sim, request)) is not None:
        return rejected
    body = await _read_json(request)
    if body is None:
        return _invalid_json(sim)
    # countTokens also accepts the contents wrapped in a full generateContentRequest.
    prompt, _ = prompt_texts(body.get("generateContentRequest") or body)
    return _json_response(200, {"totalTokens": approx_tokens(prompt)})


async def _get_config(request: web.Request) -> web.Response:
    return _json_response(200, request.app[SIMULATOR].config.model_dump(mode="json"))


async def _post_config(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    changes = await _read_json(request)
    if changes is None:
        return _json_response(400, {"error": "body must be a JSON object"})
    try:
        sim.update_config(changes)
    except ValidationError as exc:
        return _json_response(400, {"error": exc.errors(include_url=False, include_context=False)})
    return _json_response(200, sim.config.model_dump(mode="json"))


async def _get_stats(request: web.Request) -> web.Response:
    return _json_response(200, asdict(request.app[SIMULATOR].stats))


async def _post_reset(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    sim.reset()
    return _json_response(200, asdict(sim.stats))


async def _health(request: web.Request) -> web.Response:
    return _json_response(200, {"status": "ok", "simulated": True})


async def _label_simulated(request: web.Request, response: web.StreamResponse) -> None:
    # Signal rather than per-handler header so 404s/405s from the router are labelled too.
    response.headers[SIMULATED_HEADER] = "true"


def create_app(config: SimConfig | None = None) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = Simulator(config or SimConfig())
    app.on_response_prepare.append(_label_simulated)
    for path in (_MODEL_PATH, _VERTEX_PATH):
        app.router.add_post(f"/{path}:generateContent", _generate_content)
        app.router.add_post(f"/{path}:countTokens", _count_tokens)
    app.router.add_get("/_sim/config", _get_config)
    app.router.add_post("/_sim/config", _post_config)
    app.router.add_get("/_sim/stats", _get_stats)
    app.router.add_post("/_sim/reset", _post_reset)
    app.router.add_get("/_sim/health", _health)
    return app


async def start_simulator(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Start serving (port 0: a free port); returns the runner (call `cleanup()`) and base URL."""
    runner = web.AppRunner(create_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    # A deep backlog: benchmarks open a couple of hundred connections at once.
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


@asynccontextmanager
async def running_simulator(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """`async with running_simulator(SimConfig(rpm=5)) as base_url:` -- in-process simulator."""
    runner, base_url = await start_simulator(config, host, port)
    try:
        yield base_url
    finally:
        await runner.cleanup()
