"""One generateContent request answered: the same logic online (server.py) and in batch jobs
(batches.py), so a text gets the same themes and the same injected faults either way."""

from dataclasses import dataclass
from typing import Any

from .answers import Row, answer_text, extract_rows, prompt_texts, wants_field, wants_items
from .judge import PAIR_FIELD, is_judge_request, judge_text
from .naming import is_naming_request, naming_text
from .quality import faults_for
from .state import Simulator
from .tokens import approx_tokens


@dataclass
class Prompt:
    """What the simulator reads out of a GenerateContentRequest body."""

    body: dict[str, Any]
    rows: list[Row]
    input_tokens: int
    user_text: str = ""
    judge: bool = False  # themegen's judge request (judge.py), not a request for themes
    naming: bool = False  # themegen's request to name clusters (naming.py)


@dataclass
class Generated:
    """A GenerateContentResponse and what it counts for in the stats."""

    payload: dict[str, Any]
    rows_answered: int
    output_tokens: int
    invalid: bool  # the text deliberately breaks the themes contract
    non_stop: bool  # finishReason other than STOP


def read_prompt(sim: Simulator, body: dict[str, Any]) -> Prompt:
    """Parse the request and count it against its rows (fail_times counts every request of a row)."""
    prompt, user_text = prompt_texts(body)
    rows = extract_rows(user_text)
    judge, naming = is_judge_request(body), is_naming_request(body)
    row_requests = sim.stats.row_requests
    for row_id, _ in [] if judge or naming else rows:  # a judge or naming request asks no row's themes
        row_requests[row_id] = row_requests.get(row_id, 0) + 1
    return Prompt(body, rows, approx_tokens(prompt), user_text, judge, naming)


def hits_error_ids(sim: Simulator, prompt: Prompt) -> bool:
    ids = sim.config.error_ids
    return bool(ids) and not set(ids).isdisjoint(r for r, _ in prompt.rows)


def generate(sim: Simulator, model: str, prompt: Prompt) -> Generated:
    """The model's answer, with the configured bad-output modes, quality faults and finish reasons
    applied; a judge request gets the judge's rubric instead (no faults: the judge is honest), a
    naming request the clusters' names."""
    config = sim.config
    if prompt.naming:
        text, named = naming_text(prompt.user_text)
        return _reply(model, prompt, text, "STOP", named, invalid=False)
    if prompt.judge:
        text, judged = judge_text(prompt.user_text, wants_field(prompt.body.get("generationConfig"), PAIR_FIELD))
        return _reply(model, prompt, text, "STOP", judged, invalid=False)
    rows = prompt.rows
    items = wants_items(prompt.body.get("generationConfig"))
    answered = rows if items else rows[:1]
    finish_reason = config.finish_reason if sim.chance(config.finish_reason_rate) else "STOP"
    broken: dict[int, str] = {}
    not_json = False
    if finish_reason == "STOP":
        broken, not_json = sim.breakage([r for r, _ in answered], items)
    text = answer_text(rows, items, broken, not_json, model, faults_for(config.quality_faults, model))
    return _reply(model, prompt, text, finish_reason, len(answered), bool(broken or not_json))


def _thinking_budget(body: dict[str, Any]) -> int | None:
    config = body.get("generationConfig")
    thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
    # proto JSON: either spelling (google-genai sends thinkingConfig's fields in snake_case)
    budget = (thinking.get("thinkingBudget", thinking.get("thinking_budget")) if isinstance(thinking, dict) else None)
    return budget if isinstance(budget, int) else None


def thinking_tokens(body: dict[str, Any]) -> int:
    """The thinking a request asks for, billed as output (usageMetadata.thoughtsTokenCount). The
    simulator does not think: it charges the whole explicit budget, the most a real model may spend,
    so a cost measured here is not below what the budget allows. Dynamic thinking (no budget, or -1)
    is not simulated: it counts 0."""
    budget = _thinking_budget(body)
    return budget if budget is not None and budget > 0 else 0


PRO_LEAST_THINKING = 128  # Gemini 2.5 Pro's least budget: its thinking cannot be turned off


def thinking_refusal(model: str, body: dict[str, Any]) -> str | None:
    """The 400 message the API gives a Pro model asked to think less than it must, else None."""
    budget = _thinking_budget(body)
    if "-pro" not in model or budget is None or budget == -1 or budget >= PRO_LEAST_THINKING:
        return None
    return f"Budget {budget} is invalid. This model only works in thinking mode."


def _reply(model: str, prompt: Prompt, text: str, finish_reason: str, rows_answered: int, invalid: bool) -> Generated:
    candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
    if finish_reason == "MAX_TOKENS":
        text = text[: len(text) // 2]  # cut mid-JSON, like a too-small maxOutputTokens
    elif finish_reason != "STOP":
        text = ""  # blocked answers (SAFETY, RECITATION, ...) come without content
    if text:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    answer_tokens, thoughts = approx_tokens(text) if text else 0, thinking_tokens(prompt.body)
    output_tokens = answer_tokens + thoughts  # what is billed as output
    usage = {
        "promptTokenCount": prompt.input_tokens,
        "candidatesTokenCount": answer_tokens,
        "totalTokenCount": prompt.input_tokens + output_tokens,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    payload = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}
    return Generated(payload, rows_answered, output_tokens, invalid, finish_reason != "STOP")
