"""The Spanner sink's taxonomy tables (themegen/taxonomy): canonical themes with their centroids, the
mapping of each distinct theme string to one, and the counts the README's query gives."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

from google.api_core.exceptions import ResourceExhausted
from google.cloud import spanner

from themegen.sink.commits import pack_commits
from themegen.taxonomy.models import CanonicalCounts, CanonicalTheme, DistinctTheme, ThemeMapping

CANONICAL_COLUMNS = ("CanonicalId", "Level", "ParentId", "NameEn", "NameJa", "Examples", "RowCount", "MentionCount",
                     "Centroid", "SettingsFingerprint", "CreatedAt", "UpdatedAt")
MAP_COLUMNS = ("Theme", "CanonicalId", "Similarity", "SettingsFingerprint", "MappedAt")
COUNT_COLUMNS = ("CanonicalId", "RowCount", "MentionCount", "UpdatedAt")
PAGES_AHEAD = 2  # pages of distinct themes read ahead of the caller: bounded memory
ROWS_PER_COUNT = 50_000  # themes-table rows counted per query (count_canonical)


class SpannerTaxonomy:
    """Mixed into SpannerSink (it provides settings, database, _within_deadline, _commit, budget)."""

    async def canonical_themes(self) -> list[CanonicalTheme]:
        return await self._within_deadline(self._read_canonical)

    def _read_canonical(self) -> list[CanonicalTheme]:
        columns = ", ".join(CANONICAL_COLUMNS[:10])
        rows = self._query(f"SELECT {columns} FROM {self.settings.spanner.canonical_table} ORDER BY CanonicalId")
        return [CanonicalTheme(id=r[0], level=r[1], parent_id=r[2], name_en=r[3], name_ja=r[4],
                                   examples=list(r[5] or []), rows=r[6], mentions=r[7], centroid=list(r[8]),
                                fingerprint=r[9]) for r in rows]

    async def distinct_themes(self, page_size: int) -> AsyncIterator[list[DistinctTheme]]:
        """Every distinct theme of the themes table with its counts and mapping, in pages: a streaming
        query per hash part of the themes (`_parts`), each in theme order, read by a thread PAGES_AHEAD
        pages ahead of the caller. The same data gives the same order (the sample is drawn in it)."""
        loop, pages, stop = asyncio.get_running_loop(), asyncio.Queue(PAGES_AHEAD), threading.Event()

        def put(item: object) -> None:
            asyncio.run_coroutine_threadsafe(pages.put(item), loop).result()

        def read() -> None:
            try:
                page: list[DistinctTheme] = []
                for r in self._parts():
                    if stop.is_set():
                        return
                    page.append(DistinctTheme(theme=r[0], mentions=r[1], mapped=r[2], canonical_id=r[3]))
                    if len(page) == page_size:
                        put(page)
                        page = []
                if page:
                    put(page)
                put(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the reading coroutine
                if not stop.is_set():
                    put(exc)

        threading.Thread(target=read, daemon=True, name="spanner-distinct-themes").start()
        try:
            while (item := await pages.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while not pages.empty():  # a reader waiting to put sees the stop
                pages.get_nowait()

    def _parts(self) -> Iterator[list]:
        """The distinct-themes rows, one query per part of the themes by hash. A GROUP BY holds every
        group of its part: over a vocabulary of 200,000 themes one query ran the emulator out of its
        128 MB of query memory (Spanner has a per-query bound too). So a part refused for memory
        before its first row (the grouping ends before rows stream) is split in two and each half is
        read in turn; a vocabulary that fits stays one query, one scan of the table."""
        waiting = [(1, 0)]  # (modulus, residue): themes whose fingerprint mod modulus is residue
        while waiting:
            modulus, residue = waiting.pop()
            rows = self._distinct_part(modulus, residue)
            try:
                first = next(rows, None)
            except ResourceExhausted:
                waiting += [(2 * modulus, residue + modulus), (2 * modulus, residue)]  # the lower read first
                continue
            if first is not None:
                yield first
                yield from rows

    def _distinct_part(self, modulus: int, residue: int) -> Iterator[list]:
        s = self.settings.spanner
        # No COUNT(DISTINCT SourceId) here: its per-theme id sets ran the emulator out of query memory
        # at 1M rows (128 MB), and the step needs mentions only. MOD twice: FARM_FINGERPRINT is signed.
        part = "" if modulus == 1 else (
            f"WHERE MOD(MOD(FARM_FINGERPRINT(theme), {modulus}) + {modulus}, {modulus}) = {residue} ")
        sql = (f"SELECT theme, COUNT(*), m.Theme IS NOT NULL, m.CanonicalId "
               f"FROM {s.table} AS t CROSS JOIN UNNEST(t.Themes) AS theme "
               f"LEFT JOIN {s.theme_map_table} AS m ON m.Theme = theme {part}"
               "GROUP BY theme, m.Theme, m.CanonicalId ORDER BY theme")
        with self.database.snapshot() as snapshot:
            yield from snapshot.execute_sql(sql)

    async def write_canonical(self, themes: list[CanonicalTheme]) -> None:
        ts = spanner.COMMIT_TIMESTAMP
        rows = [(c.id, c.level, c.parent_id, c.name_en, c.name_ja, c.examples, c.rows, c.mentions, c.centroid,
                 c.fingerprint, ts, ts) for c in themes]
        await self._write_rows(self.settings.spanner.canonical_table, CANONICAL_COLUMNS, rows)

    async def write_mappings(self, mappings: list[ThemeMapping]) -> None:
        rows = [(m.theme, m.canonical_id, m.similarity, m.fingerprint, spanner.COMMIT_TIMESTAMP) for m in mappings]
        await self._write_rows(self.settings.spanner.theme_map_table, MAP_COLUMNS, rows)

    async def write_counts(self, counts: dict[str, tuple[int, int]]) -> None:
        """Rows and mentions of canonical themes that exist (only these columns change)."""
        rows = [(i, r, m, spanner.COMMIT_TIMESTAMP) for i, (r, m) in sorted(counts.items())]
        # An update, not insert_or_update: Spanner wants every NOT NULL column of an insert_or_update,
        # even of a row that exists.
        groups = [(self.settings.spanner.canonical_table, COUNT_COLUMNS, len(COUNT_COLUMNS), rows)]
        for commit in pack_commits(groups, self.budget):
            async with self._commit_slots:
                await self._within_deadline(self._update, commit)

    def _update(self, commit: list[tuple]) -> None:
        with self.database.batch() as batch:
            for table, columns, values in commit:
                batch.update(table=table, columns=columns, values=values)
        self.commits += 1

    async def _write_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        for commit in pack_commits([(table, columns, len(columns), rows)], self.budget):
            async with self._commit_slots:
                await self._within_deadline(self._commit, commit)

    async def count_canonical(self) -> CanonicalCounts:
        """Counted a key range of the themes table at a time (ranges of ROWS_PER_COUNT rows): a row is in
        one range only, so per-range COUNT(DISTINCT SourceId) add up, and no query holds more than a
        range's ids (over the whole table they ran the emulator out of its 128 MB of query memory)."""
        bounds = await self._within_deadline(self._range_starts)
        counts = CanonicalCounts()
        for low, high in zip(bounds, [*bounds[1:], None]):
            part = await self._within_deadline(self._count_range, low, high)
            for key, (rows, mentions) in part.by_id.items():
                before = counts.by_id.get(key, (0, 0))
                counts.by_id[key] = (before[0] + rows, before[1] + mentions)
            counts.rows_with_themes += part.rows_with_themes
            counts.mentions += part.mentions
            counts.mentions_mapped += part.mentions_mapped
        return counts

    def _range_starts(self) -> list[str | None]:
        """The first SourceId of every ROWS_PER_COUNT rows (None: from the start), read as one stream."""
        starts: list[str | None] = [None]
        with self.database.snapshot() as snapshot:
            for i, (source_id,) in enumerate(snapshot.execute_sql(
                    f"SELECT t.SourceId FROM {self.settings.spanner.table} AS t ORDER BY t.SourceId")):
                if i and i % ROWS_PER_COUNT == 0:
                    starts.append(source_id)
        return starts

    def _count_range(self, low: str | None, high: str | None) -> CanonicalCounts:
        s, counts = self.settings.spanner, CanonicalCounts()
        where = " AND ".join(["TRUE", *(["t.SourceId >= @low"] if low is not None else []),
                              *(["t.SourceId < @high"] if high is not None else [])])
        params = {k: v for k, v in (("low", low), ("high", high)) if v is not None}
        types = {k: spanner.param_types.STRING for k in params}
        joined = (f"FROM {s.table} AS t CROSS JOIN UNNEST(t.Themes) AS theme "
                  f"JOIN {s.theme_map_table} AS m ON m.Theme = theme "
                  f"JOIN {s.canonical_table} AS c ON c.CanonicalId = m.CanonicalId WHERE {where} ")
        # single-use snapshots: the emulator aborts concurrent multi-use read-only transactions
        for column in ("c.CanonicalId", "c.ParentId"):
            for r in self._query(f"SELECT {column}, COUNT(DISTINCT t.SourceId), COUNT(*) {joined}"
                                 f"AND {column} IS NOT NULL GROUP BY {column}", params, types):
                counts.by_id[r[0]] = (r[1], r[2])
                counts.mentions_mapped += r[2] if column == "c.CanonicalId" else 0
        for r in self._query(f"SELECT COUNT(*), SUM(ARRAY_LENGTH(t.Themes)) FROM {s.table} AS t WHERE {where}",
                             params, types):
            counts.rows_with_themes, counts.mentions = r[0], r[1] or 0
        return counts

    def _query(self, sql: str, params: dict | None = None, types: dict | None = None) -> list[list]:
        with self.database.snapshot() as snapshot:
            return [list(row) for row in snapshot.execute_sql(sql, params=params or None, param_types=types or None)]
