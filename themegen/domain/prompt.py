"""The prompt, the response schema sent to Gemini, and validation of what comes back (pure)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from themegen.config.settings import Settings

THEME_COUNT = 6
MAX_THEME_CHARS = 60
MAX_THEME_WORDS = 6

# The built-in instructions: what the rows are, the language rule, words per theme. A prompt file
# (THEMEGEN_PROMPT_FILE) or the prompt_instructions setting replaces them; the output contract below
# is appended by code whatever they say, so no prompt can change the count or the answer's shape.
SYSTEM_INSTRUCTION = (
    "You label customer feedback. For each row in the JSON input, return short themes (1-4 words "
    "each, in the language of the text, no numbering) that capture what the text is about."
)

OUTPUT_CONTRACT = (
    f" Return exactly {THEME_COUNT} distinct themes for each row. Answer only with JSON that matches the "
    "response schema."
)

# Several rows in one request: every item must carry its row's id so answers map back exactly.
PACKED_SUFFIX = " Return one item per input row, with that row's id copied exactly."

# A second chance after an invalid answer: the same request with the reason spelled out.
REPAIR_SUFFIX = (
    " Your previous answer was rejected: {reason}. Return ONLY a JSON object "
    '{{"themes": [...]}} with exactly 6 different, non-empty themes of at most 4 words each.'
)


class PromptError(ValueError):
    """The configured prompt cannot be used; the message names the setting and what to do."""


@dataclass(frozen=True)
class Prompt:
    """The run's instructions (built-in, a file's or a setting's) with the fixed contract appended."""

    instructions: str
    origin: str = "built-in"

    def system_instruction(self, packed: bool = False) -> str:
        return self.instructions + OUTPUT_CONTRACT + (PACKED_SUFFIX if packed else "")

    def repair_instruction(self, reason: str) -> str:
        return self.instructions + OUTPUT_CONTRACT + REPAIR_SUFFIX.format(reason=reason)

    @property
    def fingerprint(self) -> str:
        """A hash of everything that shapes an answer and its validation besides the model and the
        row: the instructions, the contract, the response schemas and the validator's limits (pure).
        Part of every cache key and stored with every sink row, so editing any of them regenerates
        every row, and editing nothing regenerates none; THEMEGEN_PROMPT_VERSION stays the
        human-readable label."""
        parts = [self.instructions, OUTPUT_CONTRACT, PACKED_SUFFIX, REPAIR_SUFFIX, THEMES_JSON_SCHEMA,
                 ITEMS_JSON_SCHEMA, THEME_COUNT, MAX_THEME_CHARS, MAX_THEME_WORDS]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _usable(text: str, origin: str, fix: str) -> Prompt:
    if not text.strip():
        raise PromptError(f"{origin} is empty: write the instructions in it, or {fix}")
    return Prompt(text.strip(), origin)


@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int) -> Prompt:
    """The file's prompt, read again only when it changes (its stat is part of the key)."""
    fix = "unset THEMEGEN_PROMPT_FILE to use the built-in prompt"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PromptError(f"THEMEGEN_PROMPT_FILE={path} is not UTF-8 text: save it as UTF-8, or {fix}") from None
    return _usable(text, f"THEMEGEN_PROMPT_FILE={path}", fix)


def prompt_of(settings: Settings) -> Prompt:
    """The run's prompt: the prompt_instructions setting (a ThemegenConfig block field), else the
    prompt file, else the built-in instructions. Read when a request is built, so what is sent is
    what the fingerprint hashes. Raises PromptError for a missing, unreadable or empty prompt."""
    if settings.prompt_instructions is not None:
        return _usable(settings.prompt_instructions, "THEMEGEN_PROMPT_INSTRUCTIONS (prompt_instructions)",
                       "leave it unset to use the prompt file or the built-in prompt")
    if settings.prompt_file is None:
        return Prompt(SYSTEM_INSTRUCTION)
    try:
        stat = os.stat(settings.prompt_file)
    except OSError as exc:
        raise PromptError(f"THEMEGEN_PROMPT_FILE={settings.prompt_file} cannot be read ({exc.strerror}): create "
                          "it, fix the path, or unset THEMEGEN_PROMPT_FILE to use the built-in prompt") from None
    if not os.path.isfile(settings.prompt_file):
        raise PromptError(f"THEMEGEN_PROMPT_FILE={settings.prompt_file} is not a file: point it at a text file "
                          "with the instructions")
    return _read(settings.prompt_file, stat.st_mtime_ns, stat.st_size)


# C0/C1 control characters other than tab/newline/carriage return: noise to a model, and some
# (NUL) are rejected by downstream tools. They are removed before hashing and sending.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class InvalidInput(ValueError):
    """The row cannot be sent as it is; the message says why and what to do."""


def prepare_text(text: str | None, max_chars: int) -> str:
    """The text to send for a row, or InvalidInput naming the problem (pure)."""
    if text is None:
        raise InvalidInput("text is NULL: nothing to theme")
    cleaned = _CONTROL.sub("", text)
    if not cleaned.strip():
        raise InvalidInput("text is empty or whitespace only: nothing to theme")
    if len(cleaned) > max_chars:
        raise InvalidInput(
            f"text has {len(cleaned):,} characters, over THEMEGEN_MAX_INPUT_CHARS={max_chars:,}: "
            "shorten it in the source or raise the limit"
        )
    return cleaned


class ThemesSchema(BaseModel):
    """The response schema Gemini is asked to follow for one row (constrained decoding)."""

    themes: list[str] = Field(min_length=THEME_COUNT, max_length=THEME_COUNT)


class ItemSchema(ThemesSchema):
    id: str


class ItemsSchema(BaseModel):
    """The response schema for several rows in one request: every item names its row's id."""

    items: list[ItemSchema]


# Sent as plain JSON Schema dicts built once: handing google-genai a pydantic class makes it
# convert the class on every request, a sixth of the client's CPU per call in our profile.
THEMES_JSON_SCHEMA = ThemesSchema.model_json_schema()
ITEMS_JSON_SCHEMA = ItemsSchema.model_json_schema()


class InvalidAnswer(ValueError):
    """The model answered, but not with six usable themes; the message says why."""


def user_content(rows: Sequence[tuple[str, str]]) -> str:
    """The user turn for (id, text) rows. JSON keeps ids and texts unambiguous whatever the text
    contains (quotes, newlines, "rows")."""
    return json.dumps({"rows": [{"id": row_id, "text": text} for row_id, text in rows]}, ensure_ascii=False)


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


# Models asked for JSON sometimes wrap it as Markdown (```json ... ```); the JSON inside is the answer.
_CODE_FENCE = re.compile(r"\A\s*```[\w-]*[ \t]*\n?(?P<body>.*?)\n?[ \t]*```\s*\Z", re.DOTALL)


def _load_object(text: str | None, field: str) -> dict:
    if not text:
        raise InvalidAnswer("empty answer")
    fenced = _CODE_FENCE.match(text)
    if fenced:
        text = fenced.group("body")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"answer is not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict) or field not in data:
        raise InvalidAnswer(f"answer has no {field!r} field")
    return data


def parse_answer(text: str | None) -> list[str]:
    """Parse the model's JSON text ({"themes": [...]}) into six validated themes."""
    return validate_themes(_load_object(text, "themes")["themes"])


def parse_items(text: str | None, ids: Sequence[str]) -> dict[str, list[str] | InvalidAnswer]:
    """Six validated themes per id of a multi-row answer ({"items": [{"id", "themes"}]}).

    Every asked id gets either its themes or the reason it has none (missing, invalid, answered
    twice); items with ids that were not asked are ignored. Raises InvalidAnswer only when the
    answer as a whole is unusable (not JSON, no items list)."""
    items = _load_object(text, "items")["items"]
    if not isinstance(items, list):
        raise InvalidAnswer("'items' is not a list")
    asked = set(ids)
    found: dict[str, list[str] | InvalidAnswer] = {}
    for item in items:
        item_id = item.get("id") if isinstance(item, dict) else None
        if item_id not in asked:
            continue
        if item_id in found:
            found[item_id] = InvalidAnswer("the answer has two items for this id")
            continue
        try:
            found[item_id] = validate_themes(item.get("themes"))
        except InvalidAnswer as exc:
            found[item_id] = exc
    return {row_id: found.get(row_id, InvalidAnswer("the answer has no item for this id")) for row_id in ids}
