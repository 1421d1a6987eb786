"""PostgreSQL sink (Cloud SQL, AlloyDB; themegen/sink's port): what a batch's ids already hold, and
idempotent writes of a batch's outcome (INSERT ... ON CONFLICT DO UPDATE, and deletes), one
transaction per bounded chunk of rows, on a few async connections shared by the run's batches."""

from __future__ import annotations

import os

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.conninfo import conninfo_to_dict

from themegen.config.settings import Settings
from themegen.domain.errors import sentence
from themegen.sink import SinkConfigError, Stored, Writes
from themegen.sink.commits import pack_commits
from themegen.sink.deadline import within_deadline
from themegen.sink.postgres.connections import Connections
from themegen.domain.models import JudgementRecord
from themegen.sink.postgres.schema import (CANONICAL_COLUMNS, FAILURE_COLUMNS, JUDGEMENT_COLUMNS, MAP_COLUMNS,
                                           THEME_COLUMNS, quoted)
from themegen.sink.postgres.taxonomy import PostgresTaxonomy

READ_KEYS_PER_CALL = 5_000
# psycopg raises OperationalError for what is worth another attempt: a refused, reset or timed-out
# connection, and the SQLSTATEs of a failover or a busy server (serialization failure, deadlock,
# admin shutdown, cannot connect now, too many connections, statement timeout).
_TRANSIENT = (psycopg.OperationalError,)
# ... except when the server refuses us for good, which no retry mends (libpq gives these at
# connect time as a message, without a SQLSTATE).
_MISCONFIGURED = ("does not exist", "authentication failed", "no password supplied", "pg_hba.conf")
_NOT_READY = (errors.UndefinedTable, errors.UndefinedColumn, errors.InsufficientPrivilege)
_SETTINGS_TO_CHECK = ("THEMEGEN_POSTGRES_DSN / THEMEGEN_POSTGRES_TABLE / _FAILURES_TABLE / _CANONICAL_TABLE / "
                      "_THEME_MAP_TABLE (THEMEGEN_TAXONOMY_ENABLED=false skips the taxonomy's tables)")


def describe(dsn: str) -> str:
    """'PostgreSQL host:port/database' (never the password), for messages and the report."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # its message may quote the string, password and all
        raise SinkConfigError("THEMEGEN_POSTGRES_DSN is not a libpq connection string: use "
                              "postgresql://user:password@host:5432/database or key=value pairs") from None
    host = params.get("host") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    database = params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or "postgres"
    return f"PostgreSQL {host if host.startswith('/') else f'{host}:{port}'}/{database}"


def upsert_sql(table: str, columns: tuple[str, ...], stamped: str, key: tuple[str, ...] = ("source_id",)) -> str:
    """One row's idempotent upsert; the column `stamped` takes the server's now() (as Spanner's
    commit timestamp), the others a parameter each, in order."""
    values = ", ".join("now()" if column == stamped else "%s" for column in columns)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns if column not in key)
    return (f"INSERT INTO {quoted(table)} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


class PostgresSink(PostgresTaxonomy):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings.postgres
        self.description = describe(self.settings.dsn.get_secret_value())
        self.failures_table = self.settings.failures_table
        self.commits = 0
        self._upserts = {THEME_COLUMNS: upsert_sql(self.settings.table, THEME_COLUMNS, "generated_at"),
                         FAILURE_COLUMNS: upsert_sql(self.settings.failures_table, FAILURE_COLUMNS, "failed_at"),
                         JUDGEMENT_COLUMNS: upsert_sql(self.settings.judgements_table, JUDGEMENT_COLUMNS, "judged_at",
                                                       key=("source_id", "judge_model")),
                         **self._taxonomy_upserts(upsert_sql)}
        self.taxonomy_enabled = settings.taxonomy.enabled
        self._connections = Connections(self._connect, self.settings.pool_size)

    def close(self) -> None:
        self._connections.close()

    async def _connect(self) -> AsyncConnection:
        deadline_s = self.settings.deadline_s
        try:
            connection = await AsyncConnection.connect(
                self.settings.dsn.get_secret_value(), autocommit=True, application_name="themegen",
                connect_timeout=max(2, min(30, int(deadline_s))),  # libpq's floor is 2 s
                # a connection whose packets go unanswered is given up by the kernel, not only by us
                tcp_user_timeout=int(deadline_s * 1000),
            )
        except psycopg.OperationalError as exc:
            if any(marker in str(exc) for marker in _MISCONFIGURED):
                reason = str(exc).split("FATAL:")[-1].strip().splitlines()[0]
                raise SinkConfigError(
                    f"{self.description} refused the connection: {sentence(reason)}. Check THEMEGEN_POSTGRES_DSN "
                    "(user, password, database), create the database and apply `themegen ddl`") from None
            raise
        # The server stops what we gave up on: no statement outlives the deadline.
        await connection.execute(f"SET statement_timeout = {int(deadline_s * 1000)}")
        return connection

    async def _within_deadline(self, call, *args):
        return await within_deadline(lambda: call(*args), deadline_s=self.settings.deadline_s, transient=_TRANSIENT,
                                     description=self.description, deadline_setting="THEMEGEN_POSTGRES_DEADLINE_S",
                                     local_start="themegen stack up --sink postgres")

    async def stored(self, row_ids: list[str]) -> Stored:
        return await self._within_deadline(self._read, row_ids)

    async def _read(self, row_ids: list[str]) -> Stored:
        themes, failures, found = quoted(self.settings.table), quoted(self.settings.failures_table), Stored()
        async with self._connections.transaction() as connection:
            for start in range(0, len(row_ids), READ_KEYS_PER_CALL):
                keys = [row_ids[start:start + READ_KEYS_PER_CALL]]
                rows = await connection.execute(
                    f"SELECT source_id, model, prompt_version, prompt_fingerprint, input_hash FROM {themes} "
                    "WHERE source_id = ANY(%s::text[])", keys)
                found.themes.update({r[0]: tuple(r[1:]) for r in await rows.fetchall()})
                rows = await connection.execute(
                    f"SELECT source_id, reason, error FROM {failures} WHERE source_id = ANY(%s::text[])", keys)
                found.failures.update({r[0]: tuple(r[1:]) for r in await rows.fetchall()})
        return found

    async def write(self, writes: Writes, flow_run_id: str | None) -> None:
        """Upserts and deletes, THEMEGEN_POSTGRES_ROWS_PER_COMMIT rows to a transaction (idempotent,
        so any may be retried)."""
        s = self.settings
        groups = [
            (s.table, THEME_COLUMNS, 1,
             [(r.source_id, r.themes, r.model, r.prompt_version, r.prompt_fingerprint, r.input_hash)
              for r in writes.themes]),
            (s.failures_table, FAILURE_COLUMNS, 1,
             [(f.source_id, f.batch_id, f.reason.value, f.error, f.attempts, flow_run_id) for f in writes.failures]),
            (s.table, None, 1, writes.delete_themes),
            (s.failures_table, None, 1, writes.delete_failures),
        ]
        for commit in pack_commits(groups, s.rows_per_commit):
            await self._within_deadline(self._commit, commit)

    async def _commit(self, commit: list[tuple]) -> None:
        async with self._connections.transaction() as connection:
            for table, columns, items in commit:
                if columns is None:
                    await connection.execute(f"DELETE FROM {quoted(table)} WHERE source_id = ANY(%s::text[])",
                                             [list(items)])
                else:
                    async with connection.cursor() as cursor:  # pipelined: one round trip, not one per row
                        await cursor.executemany(self._upserts[columns], items)
        self.commits += 1

    async def themes_of(self, row_ids: list[str]) -> dict[str, tuple[list[str], tuple]]:
        return await self._within_deadline(self._read_themes, row_ids)

    async def _read_themes(self, row_ids: list[str]) -> dict[str, tuple[list[str], tuple]]:
        found = {}
        async with self._connections.transaction() as connection:
            for start in range(0, len(row_ids), READ_KEYS_PER_CALL):
                rows = await connection.execute(
                    f"SELECT {', '.join(THEME_COLUMNS[:6])} FROM {quoted(self.settings.table)} "
                    "WHERE source_id = ANY(%s::text[])", [row_ids[start:start + READ_KEYS_PER_CALL]])
                found.update({r[0]: (list(r[1]), tuple(r[2:6])) for r in await rows.fetchall()})
        return found

    async def write_judgements(self, judgements: list[JudgementRecord], flow_run_id: str | None) -> None:
        rows = [(j.source_id, j.judge_model, j.rubric_version, j.themes, j.verdicts, j.cover, j.model,
                 j.prompt_fingerprint, j.input_hash, flow_run_id) for j in judgements]
        groups = [(self.settings.judgements_table, JUDGEMENT_COLUMNS, 1, rows)]
        for commit in pack_commits(groups, self.settings.rows_per_commit):
            await self._within_deadline(self._commit, commit)

    async def check_tables(self) -> None:
        """Fail before any LLM call when the database, a table or a column is missing, naming the fix."""
        await self._within_deadline(self._check_tables)

    async def _check_tables(self) -> None:
        # Its own connection, closed at once: check-config drops the sink without closing it.
        connection = await self._connect()
        try:
            tables = [(self.settings.table, THEME_COLUMNS), (self.settings.failures_table, FAILURE_COLUMNS)]
            if self.taxonomy_enabled:  # the step runs after the themes are written: its tables are checked before too
                tables += [(self.settings.canonical_table, CANONICAL_COLUMNS), (self.settings.theme_map_table, MAP_COLUMNS)]
            for table, columns in tables:
                try:
                    await connection.execute(f"SELECT {', '.join(columns)} FROM {quoted(table)} LIMIT 0")
                except _NOT_READY as exc:
                    raise SinkConfigError(
                        f"{self.description} is not ready: {sentence(str(exc).splitlines()[0])}. Check {_SETTINGS_TO_CHECK} "
                        "and apply `themegen ddl` (with THEMEGEN_SINK=postgres)") from None
        finally:
            await connection.close()
