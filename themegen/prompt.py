"""The prompt, the response schema sent to Gemini, and validation of what comes back (pure)."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, Field

THEME_COUNT = 6
MAX_THEME_CHARS = 60
MAX_THEME_WORDS = 6
SCHEMA_VERSION = "themes-v1"

SYSTEM_INSTRUCTION = (
    "You label customer feedback. For each row in the JSON input, return exactly 6 distinct, "
    "short themes (1-4 words each, in the language of the text, no numbering) that capture what "
    "the text is about. Answer only with JSON that matches the response schema."
)


class ThemesSchema(BaseModel):
    """The response schema Gemini is asked to follow (constrained decoding)."""

    themes: list[str] = Field(min_length=THEME_COUNT, max_length=THEME_COUNT)


class InvalidAnswer(ValueError):
    """The model answered, but not with six usable themes; the message says why."""


def user_content(row_id: str, text: str) -> str:
    # JSON keeps ids and texts unambiguous whatever the text contains (quotes, newlines, "rows").
    return json.dumps({"rows": [{"id": row_id, "text": text}]}, ensure_ascii=False)


def input_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_themes(raw: object) -> list[str]:
    """Return the six cleaned themes or raise InvalidAnswer naming the problem."""
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InvalidAnswer("themes is not a list of strings")
    themes = [" ".join(t.split()) for t in raw]
    if len(themes) != THEME_COUNT:
        raise InvalidAnswer(f"expected {THEME_COUNT} themes, got {len(themes)}")
    if any(not t for t in themes):
        raise InvalidAnswer("a theme is empty")
    if len({t.casefold() for t in themes}) != THEME_COUNT:
        raise InvalidAnswer("themes are not distinct")
    too_long = [t for t in themes if len(t) > MAX_THEME_CHARS or len(t.split()) > MAX_THEME_WORDS]
    if too_long:
        raise InvalidAnswer(f"theme too long ({len(too_long[0])} chars): {too_long[0][:40]!r}...")
    return themes


def parse_answer(text: str | None) -> list[str]:
    """Parse the model's JSON text ({"themes": [...]}) into six validated themes."""
    if not text:
        raise InvalidAnswer("empty answer")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"answer is not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict) or "themes" not in data:
        raise InvalidAnswer("answer has no 'themes' field")
    return validate_themes(data["themes"])
