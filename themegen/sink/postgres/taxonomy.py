"""The PostgreSQL sink's taxonomy tables (themegen/taxonomy): canonical themes with their centroids, the
mapping of each distinct theme string to one, and the counts the README's query gives."""

from __future__ import annotations

from collections.abc import AsyncIterator

from themegen.sink.commits import pack_commits
from themegen.sink.postgres.schema import CANONICAL_COLUMNS, MAP_COLUMNS, quoted

# created_at keeps its default (the first write); updated_at is the server's now() on every write
CANONICAL_WRITE = tuple(c for c in CANONICAL_COLUMNS if c != "created_at")
from themegen.taxonomy.models import CanonicalCounts, CanonicalTheme, DistinctTheme, ThemeMapping


class PostgresTaxonomy:
    """Mixed into PostgresSink (it provides settings, _connections, _within_deadline, _commit, _upserts)."""

    def _taxonomy_upserts(self, upsert_sql) -> dict[tuple[str, ...], str]:
        return {CANONICAL_WRITE: upsert_sql(self.settings.canonical_table, CANONICAL_WRITE, "updated_at",
                                            key=("canonical_id",)),
                MAP_COLUMNS: upsert_sql(self.settings.theme_map_table, MAP_COLUMNS, "mapped_at", key=("theme",))}

    async def canonical_themes(self) -> list[CanonicalTheme]:
        return await self._within_deadline(self._read_canonical)

    async def _read_canonical(self) -> list[CanonicalTheme]:
        async with self._connections.transaction() as connection:
            rows = await connection.execute(f"SELECT {', '.join(CANONICAL_COLUMNS[:10])} "
                                            f"FROM {quoted(self.settings.canonical_table)} ORDER BY canonical_id")
            return [CanonicalTheme(id=r[0], level=r[1], parent_id=r[2], name_en=r[3], name_ja=r[4],
                                   examples=list(r[5] or []), rows=r[6], mentions=r[7], centroid=list(r[8]),
                                   fingerprint=r[9]) for r in await rows.fetchall()]

    async def distinct_themes(self, page_size: int) -> AsyncIterator[list[DistinctTheme]]:
        """Every distinct theme of the themes table with its counts and mapping, in pages, in theme
        order: one query read through a server-side cursor (bounded memory on both sides)."""
        s = self.settings
        sql = (f"SELECT u.theme, COUNT(*), bool_or(m.theme IS NOT NULL), "
               f"max(m.canonical_id) FROM {quoted(s.table)} AS t CROSS JOIN LATERAL unnest(t.themes) AS u(theme) "
               f"LEFT JOIN {quoted(s.theme_map_table)} AS m ON m.theme = u.theme GROUP BY u.theme ORDER BY u.theme")
        async with self._connections.transaction() as connection:
            async with connection.cursor(name="themegen_distinct_themes") as cursor:
                await cursor.execute(sql)
                while rows := await cursor.fetchmany(page_size):
                    yield [DistinctTheme(theme=r[0], mentions=r[1], mapped=r[2], canonical_id=r[3]) for r in rows]

    async def write_canonical(self, themes: list[CanonicalTheme]) -> None:
        rows = [(c.id, c.level, c.parent_id, c.name_en, c.name_ja, c.examples, c.rows, c.mentions, c.centroid,
                 c.fingerprint) for c in themes]
        await self._write_rows(self.settings.canonical_table, CANONICAL_WRITE, rows)

    async def write_mappings(self, mappings: list[ThemeMapping]) -> None:
        rows = [(m.theme, m.canonical_id, m.similarity, m.fingerprint) for m in mappings]
        await self._write_rows(self.settings.theme_map_table, MAP_COLUMNS, rows)

    async def _write_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        for commit in pack_commits([(table, columns, 1, rows)], self.settings.rows_per_commit):
            await self._within_deadline(self._commit, commit)

    async def write_counts(self, counts: dict[str, tuple[int, int]]) -> None:
        """Rows and mentions of canonical themes that exist (only these columns change)."""
        items = sorted(counts.items())
        for start in range(0, len(items), self.settings.rows_per_commit):
            chunk = items[start:start + self.settings.rows_per_commit]
            await self._within_deadline(self._update_counts, chunk)

    async def _update_counts(self, chunk: list[tuple[str, tuple[int, int]]]) -> None:
        async with self._connections.transaction() as connection:
            await connection.execute(
                f"UPDATE {quoted(self.settings.canonical_table)} AS c SET row_count = v.r, mention_count = v.m, "
                "updated_at = now() FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS v(id, r, m) "
                "WHERE c.canonical_id = v.id",
                [[i for i, _ in chunk], [r for _, (r, _) in chunk], [m for _, (_, m) in chunk]])

    async def count_canonical(self) -> CanonicalCounts:
        return await self._within_deadline(self._count_canonical)

    async def _count_canonical(self) -> CanonicalCounts:
        s, counts = self.settings, CanonicalCounts()
        mapped = (f"FROM {quoted(s.table)} AS t CROSS JOIN LATERAL unnest(t.themes) AS u(theme) "
                  f"JOIN {quoted(s.theme_map_table)} AS m ON m.theme = u.theme ")
        async with self._connections.transaction() as connection:
            rows = await connection.execute(f"SELECT m.canonical_id, COUNT(DISTINCT t.source_id), COUNT(*) {mapped}"
                                            "WHERE m.canonical_id IS NOT NULL GROUP BY m.canonical_id")
            for r in await rows.fetchall():
                counts.by_id[r[0]] = (r[1], r[2])
                counts.mentions_mapped += r[2]
            rows = await connection.execute(f"SELECT c.parent_id, COUNT(DISTINCT t.source_id), COUNT(*) {mapped}"
                                            f"JOIN {quoted(s.canonical_table)} AS c ON c.canonical_id = m.canonical_id "
                                            "WHERE c.parent_id IS NOT NULL GROUP BY c.parent_id")
            counts.by_id.update({r[0]: (r[1], r[2]) for r in await rows.fetchall()})
            rows = await connection.execute(f"SELECT COUNT(*), COALESCE(SUM(cardinality(t.themes)), 0) "
                                            f"FROM {quoted(s.table)} AS t")
            counts.rows_with_themes, counts.mentions = await rows.fetchone()
        return counts
