"""aiohttp app simulating Gemini's REST API for the local stack: generateContent (standard and
Flex tier) and countTokens here, embeddings in embeddings.py, batch jobs in batches.py (Vertex AI's in
vertex_batches.py), the Files API in files.py.

Every response carries `x-themegen-simulated: true` so nothing downstream can mistake the
simulated themes for real model output. The handler is kept lean (no per-request logging, no
access log) because the simulator must sustain ~1000 requests/s on two cores.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from . import batches, embeddings, files, replies, vertex_batches
from .answers import prompt_texts
from .config import SimConfig
from .generate import Prompt, generate, hits_error_ids, read_prompt, thinking_refusal
from .judge import JudgeStats, is_judge_request
from .naming import is_naming_request
from .quota import RPD_QUOTA_ID, rpm_violation
from .state import SIMULATOR, Simulator
from .tokens import approx_tokens

SIMULATED_HEADER = "x-themegen-simulated"
JUDGE_STATS = web.AppKey("judge_stats", JudgeStats)

_MODEL_PATH = f"{replies.VERSION_PATH}/models/{{model:[^/:]+}}"
_VERTEX_PATH = (
    f"{replies.VERSION_PATH}/projects/{{project}}/locations/{{location}}"
    "/publishers/google/models/{model:[^/:]+}"
)

# google-genai sends GenerateContentConfig(service_tier=...) as the body's top-level "serviceTier"
# (both backends); Vertex AI documents Flex as this header instead.
_SERVICE_TIERS = ("unspecified", "standard", "flex", "priority")
_VERTEX_FLEX_HEADER = "X-Vertex-AI-LLM-Shared-Request-Type"


def _service_tier(body: dict[str, Any], request: web.Request) -> str | None:
    """The request's tier in lower case, None for a value the API would reject."""
    tier = body.get("serviceTier", "unspecified")
    if not isinstance(tier, str) or tier.lower() not in _SERVICE_TIERS:
        return None
    if request.headers.get(_VERTEX_FLEX_HEADER, "").lower() == "flex":
        return "flex"
    return tier.lower()


def _admission_error(sim: Simulator, model: str, input_tokens: int) -> web.Response | None:
    """Bursts and quotas, checked before any simulated latency because the real API rejects fast."""
    config = sim.config
    if config.burst_429:
        config.burst_429 -= 1
        violation = rpm_violation(config.rpm or 0, config.burst_retry_delay_s)
        return replies.quota_error(sim, model, violation)
    if config.burst_503:
        config.burst_503 -= 1
        return replies.overloaded(sim)
    now = time.monotonic()
    violation = sim.quota.check(now, input_tokens, config)
    if violation is not None:
        if violation.quota_id == RPD_QUOTA_ID and sim.stats.in_progress_at_day_refusal is None:
            sim.stats.in_progress_at_day_refusal = sim.stats.in_progress
        return replies.quota_error(sim, model, violation)
    sim.quota.record(now, input_tokens, config)
    return None


def _flex_shed(sim: Simulator) -> web.Response | None:
    """Flex is best effort: a share is refused as if its spare capacity ran out (no RetryInfo)."""
    flex = sim.stats.flex
    if sim.chance(sim.config.flex_shed_rate_429):
        flex.shed_429 += 1
        return replies.error(sim, 429, "RESOURCE_EXHAUSTED", replies.EXHAUSTED_MESSAGE)
    if sim.chance(sim.config.flex_shed_rate_503):
        flex.shed_503 += 1
        return replies.overloaded(sim)
    return None


async def _generate_content(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    model = request.match_info["model"]
    body = await replies.read_json(request)
    if body is not None and is_judge_request(body):  # counted apart: tests count the themes' requests
        request.app[JUDGE_STATS].requests += 1
    elif body is not None and is_naming_request(body):
        sim.stats.naming.requests += 1
    else:
        sim.stats.requests += 1
        sim.stats.after_day_refusal += sim.stats.in_progress_at_day_refusal is not None
    if (rejected := replies.bad_api_key(sim, request)) is not None:
        return rejected
    if body is None:
        return replies.invalid_argument(sim, "Invalid JSON payload received.")
    tier = _service_tier(body, request)
    if tier is None:
        given = json.dumps(body["serviceTier"])
        message = f"Invalid value at 'service_tier', {given}: use one of {_SERVICE_TIERS}."
        return replies.invalid_argument(sim, message)
    if (refusal := thinking_refusal(model, body)) is not None:
        return replies.invalid_argument(sim, refusal)
    flex = tier == "flex"
    sim.stats.flex.requests += flex
    prompt = read_prompt(sim, body)
    rejection = _admission_error(sim, model, prompt.input_tokens)
    if rejection is None and flex:
        rejection = _flex_shed(sim)
    if rejection is not None:
        return rejection
    sim.stats.in_progress += 1
    try:
        return await _answer(sim, model, prompt, flex, request.app[JUDGE_STATS])
    finally:
        sim.stats.in_progress -= 1


async def _answer(sim: Simulator, model: str, prompt: Prompt, flex: bool, judge: JudgeStats) -> web.Response:
    """An admitted request: latency, injected faults, then the answer."""
    config = sim.config
    latency_s = config.flex_latency_s if flex else config.latency_s
    if latency_s or config.latency_jitter_s:
        jitter = sim.rng.uniform(-config.latency_jitter_s, config.latency_jitter_s)
        await asyncio.sleep(max(0.0, latency_s + jitter))
        config = sim.config  # knobs may have changed while this request was "generating"

    if (not (prompt.judge or prompt.naming) and hits_error_ids(sim, prompt)) or sim.chance(config.error_rate_500):
        return replies.internal(sim)
    if sim.chance(config.error_rate_503):
        return replies.overloaded(sim)
    generated = generate(sim, model, prompt)
    if prompt.naming:
        naming = sim.stats.naming
        naming.clusters_named += generated.rows_answered
        naming.input_tokens += prompt.input_tokens
        naming.output_tokens += generated.output_tokens
    elif prompt.judge:
        judge.rows_judged += generated.rows_answered
        judge.input_tokens += prompt.input_tokens
        judge.output_tokens += generated.output_tokens
    else:
        sim.stats.record(prompt.input_tokens, generated)
    sim.stats.flex.ok += flex
    return replies.json_response(200, generated.payload)


async def _count_tokens(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    body = await replies.checked_json(sim, request)
    if isinstance(body, web.Response):
        return body
    # countTokens also accepts the contents wrapped in a full generateContentRequest.
    prompt, _ = prompt_texts(body.get("generateContentRequest") or body)
    return replies.json_response(200, {"totalTokens": approx_tokens(prompt)})


async def _get_config(request: web.Request) -> web.Response:
    return replies.json_response(200, request.app[SIMULATOR].config.model_dump(mode="json"))


async def _post_config(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    changes = await replies.read_json(request)
    if changes is None:
        return replies.json_response(400, {"error": "body must be a JSON object"})
    try:
        sim.update_config(changes)
    except ValidationError as exc:
        return replies.json_response(400, {"error": exc.errors(include_url=False, include_context=False)})
    return replies.json_response(200, sim.config.model_dump(mode="json"))


def _stats(app: web.Application) -> dict[str, Any]:
    return asdict(app[SIMULATOR].stats) | {"judge": asdict(app[JUDGE_STATS])}


async def _get_stats(request: web.Request) -> web.Response:
    return replies.json_response(200, _stats(request.app))


async def _post_reset(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    sim.reset()
    request.app[JUDGE_STATS].reset()
    return replies.json_response(200, _stats(request.app))


async def _post_new_day(request: web.Request) -> web.Response:
    """The quota day resets now (as at midnight Pacific time): rpd counts from zero again."""
    sim = request.app[SIMULATOR]
    sim.quota.new_day()
    sim.stats.in_progress_at_day_refusal = None
    return replies.json_response(200, {"day_requests": 0})


async def _health(request: web.Request) -> web.Response:
    return replies.json_response(200, {"status": "ok", "simulated": True})


async def _label_simulated(request: web.Request, response: web.StreamResponse) -> None:
    # Signal rather than per-handler header so 404s/405s from the router are labelled too.
    response.headers[SIMULATED_HEADER] = "true"


def create_app(config: SimConfig | None = None) -> web.Application:
    # Inline batch jobs may be 20 MB and file uploads come in 8 MB chunks (aiohttp's default: 1 MB).
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[SIMULATOR] = Simulator(config or SimConfig())
    app[JUDGE_STATS] = JudgeStats()
    app.on_response_prepare.append(_label_simulated)
    for path in (_MODEL_PATH, _VERTEX_PATH):
        app.router.add_post(f"/{path}:generateContent", _generate_content)
        app.router.add_post(f"/{path}:countTokens", _count_tokens)
    embeddings.add_routes(app, _MODEL_PATH, _VERTEX_PATH)
    batches.add_routes(app)
    vertex_batches.add_routes(app)
    files.add_routes(app)
    app.router.add_get("/_sim/config", _get_config)
    app.router.add_post("/_sim/config", _post_config)
    app.router.add_get("/_sim/stats", _get_stats)
    app.router.add_post("/_sim/reset", _post_reset)
    app.router.add_post("/_sim/new_day", _post_new_day)
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
