"""A GenerateContentRequest as REST JSON, the body google-genai sends online, built from our config (pure).

A batch job line carries its request as JSON, and google-genai has no public function that turns a
GenerateContentConfig into that JSON (its converters are private and may change in any release).
So the fields client.generation_config sets are written out here, named and shaped as the online
client sends them; for these fields the Gemini API's and Vertex AI's bodies are the same.
tests/themegen/llm/jobs/test_request_body.py captures what the online client really sends, on both
backends, and fails when the two drift. A config field not written here is refused, never dropped:
a batch answer must come from the request an online answer would.
"""

from __future__ import annotations

from google.genai import types
from pydantic import BaseModel

# (config field, JSON name), in the order job files have always been written: a job file's hash is
# its record key (requests.py), so another order would make a rerun miss a job it already submitted.
GENERATION_FIELDS = (
    ("temperature", "temperature"),
    ("max_output_tokens", "maxOutputTokens"),
    ("response_mime_type", "responseMimeType"),
    ("response_json_schema", "responseJsonSchema"),
    ("thinking_config", "thinkingConfig"),
)
WRITTEN = {"system_instruction", *(field for field, _ in GENERATION_FIELDS)}


def _refuse_unwritten(model: BaseModel, written: set[str], where: str) -> None:
    unwritten = sorted(name for name, value in model if value is not None and name not in written)
    if unwritten:
        raise ValueError(f"{where} sets {', '.join(unwritten)}, which a batch request would leave out: "
                         "write it in themegen/llm/jobs/request_body.py as google-genai sends it online")


def _user_turn(text: str) -> dict:
    """A text as google-genai sends a plain string (contents and the system instruction alike)."""
    return {"parts": [{"text": text}], "role": "user"}


def _thinking(config: types.ThinkingConfig) -> dict:
    _refuse_unwritten(config, {"thinking_budget"}, "thinking_config")
    # snake_case, as google-genai sends this nested field online (the API reads either spelling).
    return {} if config.thinking_budget is None else {"thinking_budget": config.thinking_budget}


def request_body(contents: str, config: types.GenerateContentConfig) -> dict:
    """The JSON of a generateContent request with this user turn and config (no model: the job names it)."""
    _refuse_unwritten(config, WRITTEN, "the generation config")
    body: dict = {"contents": [_user_turn(contents)]}
    if config.system_instruction is not None:
        if not isinstance(config.system_instruction, str):
            raise ValueError("a batch request's system instruction must be text")
        body["systemInstruction"] = _user_turn(config.system_instruction)
    generation = {}
    for field, name in GENERATION_FIELDS:
        value = getattr(config, field)
        if value is not None:
            generation[name] = _thinking(value) if field == "thinking_config" else value
    if generation:
        body["generationConfig"] = generation
    return body
