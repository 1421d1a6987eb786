"""Real faults on a real PostgreSQL server (the session's): transient errors are retried until the
write lands (its upserts are idempotent), permanent ones surface at once, connections the server
killed are replaced, and one process never opens more connections than THEMEGEN_POSTGRES_POOL_SIZE."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from themegen.config.settings import Settings
from themegen.domain.models import ThemeRecord
from themegen.sink import SinkConfigError, Writes, open_sink
from themegen.sink.postgres.schema import all_ddl

TABLES = ("fault_themes", "fault_failures")  # their own: a fault trigger must not reach other tests


def records(*ids: int) -> list[ThemeRecord]:
    return [ThemeRecord(source_id=f"f-{i}", themes=list("abcdef"), model="m", prompt_version="v1",
                        prompt_fingerprint="fp", input_hash="0" * 64) for i in ids]


@pytest.fixture
def database(postgres_server):
    """A connection to the sink's database with the test's tables; they go afterwards."""
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        for statement in all_ddl(*TABLES):
            db.execute(statement)
        db.execute("CREATE SEQUENCE fault_inserts")
        try:
            yield db
        finally:
            db.execute(f"DROP TABLE {', '.join(TABLES)}; DROP SEQUENCE fault_inserts; "
                       "DROP FUNCTION IF EXISTS fail_first_inserts")


@pytest.fixture
def sinks(postgres_server, database):
    """Opens PostgreSQL sinks on the test's tables (settings overrides on top); closes them all."""
    opened = []

    def open_(**overrides):
        settings = Settings(**{"sink": "postgres", "postgres_dsn": postgres_server.dsn, "postgres_table": TABLES[0],
                               "postgres_failures_table": TABLES[1], "postgres_deadline_s": 20, **overrides})
        opened.append(open_sink(settings))
        return opened[-1]

    yield open_
    for sink in opened:
        sink.close()


def fail_first_inserts(db: psycopg.Connection, times: int, sqlstate: str) -> None:
    """The first `times` inserts into the themes table raise `sqlstate` (the sequence counts attempts
    across rollbacks)."""
    db.execute(f"""CREATE FUNCTION fail_first_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF nextval('fault_inserts') <= {times} THEN
            RAISE EXCEPTION 'injected %', '{sqlstate}' USING ERRCODE = '{sqlstate}';
          END IF;
          RETURN NEW;
        END $$""")
    db.execute(f"CREATE TRIGGER fault BEFORE INSERT ON {TABLES[0]} FOR EACH ROW EXECUTE FUNCTION fail_first_inserts()")


def attempts(db: psycopg.Connection) -> int:
    return db.execute("SELECT last_value FROM fault_inserts").fetchone()[0]


def connections(db: psycopg.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'themegen'").fetchone()[0]


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])  # serialization failure, deadlock
async def test_a_transaction_the_server_rolls_back_is_retried_until_the_write_lands(database, sinks, sqlstate):
    fail_first_inserts(database, 2, sqlstate)
    sink = sinks()
    await sink.write(Writes(themes=records(1, 2)), flow_run_id=None)
    assert sink.commits == 1 and attempts(database) == 2 + 2  # two refused, then both rows
    assert set((await sink.stored(["f-1", "f-2"])).themes) == {"f-1", "f-2"}


async def test_a_permanent_error_surfaces_at_once(database, sinks):
    fail_first_inserts(database, 1, "23514")  # check_violation: the same write would fail again
    started = time.monotonic()
    with pytest.raises(psycopg.errors.CheckViolation):
        await sinks().write(Writes(themes=records(1)), flow_run_id=None)
    assert attempts(database) == 1 and time.monotonic() - started < 5


async def test_connections_the_server_terminated_are_replaced(database, sinks):
    """A failover or a restart ends every connection (SQLSTATE 57P01, admin shutdown)."""
    sink = sinks()
    await sink.write(Writes(themes=records(1)), flow_run_id=None)
    database.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'themegen'")

    await sink.write(Writes(themes=records(2)), flow_run_id=None)

    assert set((await sink.stored(["f-1", "f-2"])).themes) == {"f-1", "f-2"}


async def test_one_sink_opens_at_most_its_pool_size_and_closes_them(database, sinks):
    sink = sinks(postgres_pool_size=3)
    await asyncio.gather(*(sink.write(Writes(themes=records(i)), flow_run_id=None) for i in range(30)))
    found = await asyncio.gather(*(sink.stored([f"f-{i}"]) for i in range(30)))

    assert all(set(stored.themes) == {f"f-{i}"} for i, stored in enumerate(found))
    assert connections(database) == 3  # kept for the next batch
    sink.close()
    time.sleep(0.2)  # the server notices the ends of the connections
    assert connections(database) == 0


async def test_a_missing_database_is_a_configuration_error_not_an_outage(postgres_server, sinks):
    started = time.monotonic()
    with pytest.raises(SinkConfigError, match=r"database \"no_such_db\" does not exist.*THEMEGEN_POSTGRES_DSN"):
        await sinks(postgres_dsn=postgres_server.dsn.rsplit("/", 1)[0] + "/no_such_db").check_tables()
    assert time.monotonic() - started < 5  # not retried until the deadline
