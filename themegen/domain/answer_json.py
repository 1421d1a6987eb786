"""Reading a model's structured answer: the list under one field of its JSON (the judge's preferences,
the namer's names), or None when the answer is not that JSON."""

from __future__ import annotations

import json


def listed(text: str | None, field: str) -> list | None:
    try:
        items = json.loads(text or "")[field]
    except (ValueError, KeyError, TypeError):
        return None
    return items if isinstance(items, list) else None
