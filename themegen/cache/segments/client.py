"""The grouped row cache: answers buffered in memory and written as one segment object per flush.

Layout (under the block's folder):
    segments/<model>/<prompt version>/<fingerprint>/<ms since epoch>-<writer>-<seq>-<entries>.jsonl
one line per entry: the key as a JSON string, a tab, the CachedAnswer's JSON. Row and text entries
(`Generation.row_key` / `text_key`, two per answered row) are grouped by their generation, the quality
judge's verdicts by judge model and rubric, theme vectors by embedding model and size; any other key
(a batch job's record: a few per run, and losing one would pay a whole job twice) is one object at its
own path, written before `put` returns, as the per-object layout does.

Writing: `put` appends to a buffer; a background thread writes the buffer as one segment every
`flush_s` seconds after its first entry, or at once at `flush_entries` entries, and on close (an
exiting interpreter closes every cache). A segment is written once, never replaced, and only under
a new name (if_generation_match=0 on GCS): concurrent writers never collide. A SIGKILL loses the
entries of the last `flush_s` seconds (and of a write in progress): those answers are paid again.
A failed write keeps its entries buffered and is retried with backoff.

Reading: the first read of a generation lists its segments (one list call per 1,000) and reads
the newest of them, up to `memory_entries` entries, into a bounded map, oldest first so that a
newer line for a key wins; it lists again at most every RELIST_S seconds, from the newest name it
knows (less LATE_S), to see other processes' segments. Own writes go to the map at `put`. A key
therefore costs no storage operation of its own, hit or miss. Older entries beyond the bound are
not read: they are asked again (crash leftovers are recent; an identical text answered long ago is
the one saving given up).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from pydantic import ValidationError

from themegen.cache import CachedAnswer, CacheReadError
from themegen.cache.segments.store import Store
from themegen.cache.settings import CacheSettings

log = logging.getLogger(__name__)

# The first folder of Generation.row_key and text_key, of the quality judge's verdict keys and of the
# taxonomy's theme vectors (llm/gemini/embedder.py).
GROUPED_KINDS = ("answers", "texts", "judgements", "embeddings")
SEGMENTS = "segments"
RELIST_S = 30.0
LATE_S = 600  # a segment may land this long after the time in its name (its upload's retries)
READS_AT_ONCE = 8
BACKOFF_MAX_S = 30.0


def folder_of(key: str) -> str | None:
    """The generation folder of a row or text key (model/prompt version/fingerprint), else None."""
    parts = key.split("/")
    return "/".join(parts[1:4]) if len(parts) >= 5 and parts[0] in GROUPED_KINDS else None


def encode(key: str, value: bytes) -> bytes:
    return json.dumps(key).encode() + b"\t" + value + b"\n"


def decode(data: bytes) -> dict[str, bytes]:
    """A segment's entries (a later line for a key wins); a torn or foreign line is skipped."""
    entries: dict[str, bytes] = {}
    last = b""
    for line in data.splitlines():
        head, tab, value = line.partition(b"\t")
        try:
            key = json.loads(head) if tab else None
        except ValueError:
            continue
        if isinstance(key, str):
            last = entries[key] = last if value == last else value  # row and text entries share one value
    return entries


def _entries_in(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1].removesuffix(".jsonl"))
    except (IndexError, ValueError):
        return 0


@dataclass
class _View:
    """What this process has read of one generation's segments."""

    listed_at: float | None = None  # time.monotonic() of the last successful listing
    newest: str = ""  # newest segment name listed
    read: set[str] = field(default_factory=set)  # names read, skipped for the bound, or written here


class SegmentCache:
    """A RowCache on a Store; one per process and block (see `open_block_cache`)."""

    def __init__(self, store: Store, settings: CacheSettings | None = None) -> None:
        settings = settings or CacheSettings()
        self.store = store
        self.flush_s, self.flush_entries = settings.flush_s, settings.flush_entries
        self.memory_entries = settings.memory_entries
        self.writer = uuid.uuid4().hex[:12]
        self.flush_errors = 0  # consecutive failed flushes
        self._seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._buffer: list[tuple[str, bytes]] = []  # (generation folder, line)
        self._buffer_since = 0.0
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._last_value = b""
        self._views: dict[str, _View] = {}
        self._loading: dict[str, Future] = {}
        self._flush_lock = threading.Lock()
        self._closed = False
        self._io = ThreadPoolExecutor(READS_AT_ONCE, thread_name_prefix="row-cache-io")
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="row-cache-load")
        self._thread = threading.Thread(target=self._run, name="row-cache-flush", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # --- the port ---------------------------------------------------------------------------
    async def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        folders = {key: folder_of(key) for key in keys}
        for folder in {f for f in folders.values() if f is not None}:
            if self._stale(folder):
                await asyncio.wrap_future(self._refresh_once(folder))
        with self._lock:
            raw = {key: value for key, folder in folders.items()
                   if folder is not None and (value := self._entries.get(key)) is not None}
        singles = [key for key, folder in folders.items() if folder is None]
        if singles:
            read = await asyncio.gather(*(asyncio.wrap_future(self._io.submit(self._read_single, k)) for k in singles))
            raw.update({key: value for key, value in zip(singles, read, strict=True) if value is not None})
        found = {}
        for key, value in raw.items():
            try:
                found[key] = CachedAnswer.model_validate_json(value)
            except ValidationError:
                continue  # a foreign or older shape: asked again, and replaced
        return found

    async def put(self, key: str, answer: CachedAnswer) -> None:
        value = answer.model_dump_json(exclude_none=True).encode()
        folder = folder_of(key)
        if folder is None:
            await asyncio.wrap_future(self._io.submit(self.store.write, key, value))
            return
        with self._wake:
            if value == self._last_value:
                value = self._last_value  # the text entry right after its row's: one bytes object
            self._last_value = value
            self._remember(key, value)
            if not self._buffer:
                self._buffer_since = time.monotonic()
            self._buffer.append((folder, encode(key, value)))
            if len(self._buffer) == 1 or len(self._buffer) >= self.flush_entries:
                self._wake.notify()
        if self._closed:
            self.flush()  # after close (interpreter exit): no thread left to do it

    # --- writing ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every buffered entry now, one segment per generation; on a storage error the
        entries not written stay buffered and the error is raised."""
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            groups: dict[str, list[bytes]] = {}
            for folder, line in batch:
                groups.setdefault(folder, []).append(line)
            for folder in list(groups):
                name = self._segment_name(folder, len(groups[folder]))
                try:
                    self.store.write(name, b"".join(groups[folder]), new=True)
                except Exception:
                    with self._lock:
                        self._buffer[:0] = [(f, line) for f, lines in groups.items() for line in lines]
                        self._buffer_since = time.monotonic()
                    raise
                with self._lock:
                    self._view(folder).read.add(name)  # its entries are in the map already
                del groups[folder]

    def close(self) -> None:
        """Stop the flush thread and write what is buffered (idempotent; run at interpreter exit)."""
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=60)
        atexit.unregister(self.close)
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - at exit there is no one to raise to
            log.warning("row cache: %d answers could not be written to %s on close (%s); a rerun asks them again",
                        len(self._buffer), self.store.description, exc)
        self._io.shutdown(wait=False)
        self._loader.shutdown(wait=False)

    def _segment_name(self, folder: str, entries: int) -> str:
        self._seq += 1
        return f"{SEGMENTS}/{folder}/{int(time.time() * 1000):013d}-{self.writer}-{self._seq:06d}-{entries}.jsonl"

    def _due(self) -> bool:
        return bool(self._buffer) and (self._closed or len(self._buffer) >= self.flush_entries
                                       or time.monotonic() - self._buffer_since >= self.flush_s)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due():
                    if self._closed:
                        return  # close() writes what is left
                    wait = self._buffer_since + self.flush_s - time.monotonic() if self._buffer else None
                    self._wake.wait(wait)
                if self._closed:
                    return
            try:
                self.flush()
                self.flush_errors = 0
            except Exception as exc:  # noqa: BLE001 - kept buffered; retried after a pause
                self.flush_errors += 1
                pause = min(BACKOFF_MAX_S, self.flush_s * 2 ** self.flush_errors)
                log.warning("row cache: writing %d answers to %s failed (%s: %s); retrying in %.0f s",
                            len(self._buffer), self.store.description, type(exc).__name__, exc, pause)
                with self._wake:
                    self._wake.wait_for(lambda: self._closed, pause)

    # --- reading ----------------------------------------------------------------------------
    def _view(self, folder: str) -> _View:
        view = self._views.get(folder)
        return view if view is not None else self._views.setdefault(folder, _View())

    def _stale(self, folder: str) -> bool:
        listed = self._view(folder).listed_at
        return listed is None or time.monotonic() - listed >= RELIST_S

    def _refresh_once(self, folder: str) -> Future:
        """One listing at a time per process: concurrent reads await the same one."""
        with self._lock:
            loading = self._loading.get(folder)
            if loading is None or loading.done():
                loading = self._loading[folder] = self._loader.submit(self._refresh, folder)
            return loading

    def _refresh(self, folder: str) -> None:
        view = self._view(folder)
        if not self._stale(folder):
            return
        start = ""
        if view.newest:
            listed_ms = int(view.newest.rsplit("/", 1)[1].split("-", 1)[0])
            start = f"{SEGMENTS}/{folder}/{max(0, listed_ms - LATE_S * 1000):013d}"
        try:
            names = self.store.list(f"{SEGMENTS}/{folder}/", start)
        except Exception as exc:
            if view.listed_at is None:  # nothing known: a miss now would pay again for what is stored
                raise CacheReadError(f"row cache segments in {self.store.description} could not be listed: "
                                     f"{type(exc).__name__}: {exc}") from None
            log.warning("row cache: listing %s failed (%s); other processes' new answers are not seen yet",
                        self.store.description, exc)
            view.listed_at = time.monotonic()
            return
        new = [name for name in names if name not in view.read]
        chosen, budget = [], self.memory_entries
        for name in reversed(new):  # the newest within the bound
            if chosen and _entries_in(name) > budget:
                break
            chosen.append(name)
            budget -= _entries_in(name)
        chosen.reverse()
        try:
            datas = list(self._io.map(self.store.read, chosen))
        except Exception as exc:
            raise CacheReadError(f"row cache segment in {self.store.description} unreadable: "
                                 f"{type(exc).__name__}: {exc}") from None
        with self._lock:
            for data in datas:
                for key, value in decode(data or b"").items():
                    self._remember(key, value)
            view.read.update(new)
            view.newest = max(view.newest, names[-1]) if names else view.newest
            view.listed_at = time.monotonic()

    def _remember(self, key: str, value: bytes) -> None:
        """Into the bounded map, as its newest entry (holds self._lock)."""
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.memory_entries:
            self._entries.popitem(last=False)

    def _read_single(self, key: str) -> bytes | None:
        try:
            return self.store.read(key)
        except Exception as exc:  # not a miss: treating it as one would pay Gemini again
            raise CacheReadError(f"row cache entry {key} in {self.store.description} unreadable: "
                                 f"{type(exc).__name__}: {exc}") from None
