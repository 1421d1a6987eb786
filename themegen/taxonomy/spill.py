"""Themes that fit no existing canonical theme, kept on disk between the pass that embeds them and
the pass that assigns them to the new clusters: a page at a time in memory, whatever the vocabulary."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


class Spill:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="themegen-taxonomy-")
        self.pages = 0
        self.themes = 0

    def add(self, themes: list[tuple[str, int]], vectors: np.ndarray) -> None:
        """A page of (theme, mentions) and their unit vectors."""
        if not themes:
            return
        base = Path(self._dir.name) / f"{self.pages:06d}"
        np.save(base.with_suffix(".npy"), vectors.astype(np.float32))
        base.with_suffix(".json").write_text(json.dumps(themes, ensure_ascii=False))
        self.pages += 1
        self.themes += len(themes)

    def __iter__(self) -> Iterator[tuple[list[tuple[str, int]], np.ndarray]]:
        for page in range(self.pages):
            base = Path(self._dir.name) / f"{page:06d}"
            themes = [(theme, mentions) for theme, mentions in json.loads(base.with_suffix(".json").read_text())]
            yield themes, np.load(base.with_suffix(".npy"))

    def close(self) -> None:
        self._dir.cleanup()
