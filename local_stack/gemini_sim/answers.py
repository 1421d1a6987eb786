"""Reading the prompt contract out of a request and writing the (possibly broken) answer text."""

import json
import re
from typing import Any

from .config import QualityFaults
from .quality import with_faults

Row = tuple[str, str]  # (id, text)

# Ways an answer can break the "six distinct short themes" contract; the pipeline must catch all.
NOT_JSON = "not_json"
ROW_MODES = ("five_themes", "duplicate_theme", "empty_theme", "long_theme")
ALL_MODES = (NOT_JSON, *ROW_MODES)

# Lenient about whitespace so a pretty-printed payload ('{ "rows": ...') is still found.
_ROWS_START = re.compile(r'\{\s*"rows"\s*:')
_DECODER = json.JSONDecoder()


def content_texts(content: Any) -> list[str]:
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


def prompt_texts(body: dict[str, Any]) -> tuple[str, str]:
    """(all prompt text for token counting, text of the last user part)."""
    contents = body.get("contents")
    if isinstance(contents, dict):  # the REST API also accepts a single Content object
        contents = [contents]
    if not isinstance(contents, list):
        contents = []
    everything = content_texts(body.get("systemInstruction"))
    last_user = ""
    for content in contents:
        texts = content_texts(content)
        everything += texts
        if texts and content.get("role", "user") == "user":
            last_user = texts[-1]
    return "\n".join(everything), last_user


def extract_rows(user_text: str) -> list[Row]:
    """Rows of the `{"rows": [{"id", "text"}...]}` payload, else the whole text as row ""."""
    match = _ROWS_START.search(user_text)
    if match:
        try:
            payload, _ = _DECODER.raw_decode(user_text, match.start())
        except ValueError:
            payload = None
        rows = payload.get("rows") if isinstance(payload, dict) else None
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            return [(str(r.get("id", "")), str(r.get("text", ""))) for r in rows]
    return [("", user_text)]


def payload_items(user_text: str, field: str) -> list[dict[str, Any]]:
    """The objects listed under `field` of a JSON user turn (the judge's rows, the namer's clusters)."""
    try:
        payload = json.loads(user_text)
    except ValueError:
        return []
    items = payload.get(field) if isinstance(payload, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def wants_field(generation_config: Any, field: str) -> bool:
    """True when the response schema asks for an object with this top-level field."""
    if not isinstance(generation_config, dict):
        return False
    schema = generation_config.get("responseSchema") or generation_config.get("responseJsonSchema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return isinstance(properties, dict) and field in properties


def wants_items(generation_config: Any) -> bool:
    """True when the response schema asks for the multi-row `{"items": [...]}` shape."""
    return wants_field(generation_config, "items")


def corrupt_themes(themes: list[str], mode: str) -> list[str]:
    """A copy of `themes` broken in the given row-level way."""
    broken = list(themes)
    if mode == "five_themes":
        broken.pop()
    elif mode == "duplicate_theme":
        broken[-1] = broken[0]
    elif mode == "empty_theme":
        broken[2] = ""
    elif mode == "long_theme":
        broken[1] = " ".join([broken[1], "and"] * 40)  # > 200 chars whatever the theme
    return broken


def answer_text(rows: list[Row], items: bool, broken_rows: dict[int, str], not_json: bool,
                model: str = "", faults: QualityFaults | None = None) -> str:
    """The model's answer text; `broken_rows` maps a row index to the row-level mode to apply,
    `faults` the model's quality faults (bad themes that still pass the contract)."""
    themes = [with_faults(text, model, faults) for _, text in (rows if items else rows[:1])]
    for index, mode in broken_rows.items():
        themes[index] = corrupt_themes(themes[index], mode)
    if not_json:  # chatty prose instead of JSON, the classic failure of JSON mode
        return "Sure! Here are the themes: " + ", ".join(t for ts in themes for t in ts)
    if items:
        answer: dict[str, Any] = {
            "items": [{"id": rid, "themes": ts} for (rid, _), ts in zip(rows, themes, strict=True)]
        }
    else:
        answer = {"themes": themes[0]}
    return json.dumps(answer, ensure_ascii=False)
