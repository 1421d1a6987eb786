"""Row cache in a local directory: atomic writes (temp file + rename), so a process killed
mid-write leaves either the whole answer or nothing."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import ValidationError

from themegen.cache import CachedAnswer

log = logging.getLogger(__name__)


class LocalCache:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    async def get(self, key: str) -> CachedAnswer | None:
        # Small files on local disk: a read costs microseconds, cheaper than a thread hop.
        try:
            return CachedAnswer.model_validate_json((self.root / key).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            log.warning("row cache entry %s unreadable (%s); treating it as a miss", key, exc)
            return None

    async def put(self, key: str, answer: CachedAnswer) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(answer.model_dump_json(), encoding="utf-8")
        os.replace(tmp, path)
