"""Themes kept on disk between two passes, a page at a time in memory, whatever the vocabulary:
those that fit no existing canonical theme, between the pass that embeds them and the pass that assigns
them to the new clusters (Spill); those earlier runs left unclustered, between the pass that reads the
sink and the one that reconsiders them (Pages)."""

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


class Pages:
    """A list of (theme, mentions) on disk, given back in pages of at most `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.count = 0
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="themegen-taxonomy-")
        self._pending: list[tuple[str, int]] = []

    def add(self, items: list[tuple[str, int]]) -> None:
        for item in items:
            self._file.write(json.dumps(item, ensure_ascii=False) + "\n")
        self.count += len(items)

    def __iter__(self) -> Iterator[list[tuple[str, int]]]:
        self._file.seek(0)
        page: list[tuple[str, int]] = []
        for line in self._file:
            theme, mentions = json.loads(line)
            page.append((theme, mentions))
            if len(page) == self.size:
                yield page
                page = []
        if page:
            yield page

    def close(self) -> None:
        self._file.close()
