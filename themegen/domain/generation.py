"""What produced an answer: model, prompt version and prompt fingerprint. One value builds every
key and record of a run, so "the same answer" means the same thing to the sink, the row cache and a
batch job."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from themegen.domain.models import ThemeRecord
from themegen.domain.prompt import prompt_of

if TYPE_CHECKING:
    from themegen.config.settings import Settings


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in part)


@dataclass(frozen=True)
class Generation:
    model: str
    prompt_version: str
    fingerprint: str

    @classmethod
    def of(cls, settings: Settings) -> Generation:
        return cls(settings.model, settings.prompt_version, prompt_of(settings).fingerprint)

    @property
    def _folder(self) -> str:
        return f"{_safe(self.model)}/{_safe(self.prompt_version)}/{_safe(self.fingerprint)}"

    def row_key(self, row_id: str, input_hash: str) -> str:
        """Row cache path of a row's answer (pure). Model/prompt version/fingerprint are folders on a
        block (a key prefix in the SQLite cache) so old generations can be listed or deleted as a
        whole; the row part is hashed so any id is a safe file name."""
        digest = hashlib.sha256(f"{row_id}\x1f{input_hash}".encode()).hexdigest()
        return f"answers/{self._folder}/{digest[:2]}/{digest}.json"

    def text_key(self, input_hash: str) -> str:
        """Row cache path of the answer to a text, whichever row holds it (pure): identical texts under
        the same generation get the same answer, so a text already answered is not paid again."""
        return f"texts/{self._folder}/{input_hash[:2]}/{_safe(input_hash)}.json"

    def stamp(self, input_hash: str) -> tuple[str, str, str, str]:
        """What the sink holds for a row done by this generation (Stored.themes' value)."""
        return (self.model, self.prompt_version, self.fingerprint, input_hash)

    def record(self, row_id: str, input_hash: str, themes: list[str]) -> ThemeRecord:
        return ThemeRecord(source_id=row_id, themes=themes, model=self.model, prompt_version=self.prompt_version,
                           prompt_fingerprint=self.fingerprint, input_hash=input_hash)


@dataclass(frozen=True)
class Pending:
    """A row that is not done: its prepared text, the text's hash and its row cache key."""

    id: str
    text: str
    digest: str
    key: str
