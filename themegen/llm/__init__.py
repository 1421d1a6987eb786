"""The generator port: asks the model for a row's (or a pack of rows') six themes.

The one adapter today is Gemini through google-genai (gemini/: client, retries, tiers' request
policy); jobs/ is the batch tier's job services. The pipeline only sees this interface.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from pydantic import BaseModel

from themegen.domain.models import LlmUsage, RowFailure

Row = tuple[str, str]  # (row id, prepared text)


class Answer(BaseModel):
    """A validated answer plus what is needed to cache it (the raw text, never just the parse)."""

    source_id: str
    text: str
    themes: list[str]
    raw_text: str
    input_tokens: int = 0
    output_tokens: int = 0


class Generator(Protocol):
    """One per batch: its usage counters are the batch's."""

    usage: LlmUsage
    rejected_items: Counter[str]  # packed items asked again alone, by why

    async def answer(self, row_id: str, text: str, batch_id: int) -> Answer | RowFailure:
        """One row, with the repair retry; a failure carries its reason."""
        ...

    async def answer_pack(self, rows: list[Row], batch_id: int) -> dict[str, Answer | RowFailure | None]:
        """Several rows in one request; None for a row whose item is missing or invalid (ask it alone)."""
        ...
