"""PostgreSQL sink (Cloud SQL, AlloyDB, or any PostgreSQL): factory. The driver (psycopg, the
`postgres` extra) is imported only when a PostgreSQL sink is opened; the DDL needs none."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from themegen.config.settings import Settings
    from themegen.sink import Sink


def open_sink(settings: Settings) -> Sink:
    from themegen.sink.postgres.client import PostgresSink

    return PostgresSink(settings)


def ddl(settings: Settings) -> list[str]:
    from themegen.sink.postgres.schema import all_ddl

    s = settings.postgres
    return all_ddl(s.table, s.failures_table, s.judgements_table, s.canonical_table, s.theme_map_table)
