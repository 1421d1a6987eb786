"""The local stack's PostgreSQL server: the Prefect server's database (`stack up --prefect-database
postgres`) and the themes sink (`stack up --sink postgres`)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from local_stack import postgres
from local_stack.processes import StackError, free_port, pid_path, port_is_free, stop_process, wait_until
from local_stack.stack import StackConfig, down, up


def test_a_missing_postgresql_server_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(StackError, match=r"apt-get install postgresql.*--prefect-database sqlite and --sink spanner"):
        postgres.start_postgres(Path("/nonexistent"), 5439)


def _installed() -> bool:
    try:
        postgres._bindir()
    except StackError:
        return False
    return True


needs_postgres = pytest.mark.skipif(not _installed(), reason="no PostgreSQL server binaries on this machine")


def _state_dir() -> Path:
    # Not pytest's tmp_path: its parents are root-only, and the server runs as `postgres` under root.
    state_dir = Path(tempfile.mkdtemp(prefix="themegen-pg-"))
    state_dir.chmod(0o755)
    return state_dir


@needs_postgres
def test_it_starts_and_serves_the_prefect_database():
    tmp_path = _state_dir()
    port = next(p for p in range(55432, 55532) if port_is_free(p))
    pid = postgres.start_postgres(tmp_path, port)
    try:
        wait_until(lambda: postgres.postgres_ready(port), 60, "postgres", pid=pid)
        assert postgres.ensure_database(port, postgres.PREFECT_DATABASE) == "created"

        async def databases() -> list[str]:
            import asyncpg

            url = postgres.database_url(port).replace("postgresql+asyncpg", "postgresql")
            connection = await asyncpg.connect(url)
            try:
                return [row[0] for row in await connection.fetch("SELECT datname FROM pg_database")]
            finally:
                await connection.close()

        assert postgres.PREFECT_DATABASE in asyncio.run(databases())
    finally:
        stop_process(tmp_path, postgres.NAME)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_an_unknown_database_is_refused_by_the_cli_before_anything_starts():
    from typer.testing import CliRunner

    from themegen.cli.app import app

    result = CliRunner().invoke(app, ["stack", "up", "--prefect-database", "postgresql"])
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())  # rich wraps the message in a box
    assert "'postgresql' is not one of 'sqlite', 'postgres'" in text


@needs_postgres
def test_stack_up_with_the_postgres_sink_prepares_its_database_keeps_it_and_resets_it(capsys):
    """`themegen stack up --sink postgres`: no Spanner emulator; the database `themegen` with the sink's
    tables, and stack.env choosing that sink; a second `up` keeps the rows, --reset empties them."""
    state_dir = _state_dir()
    ports = iter(free_port() for _ in range(6))
    config = StackConfig(state_dir=state_dir, sink="postgres", start_prefect=False, seed_rows=20,
                         **{name: next(ports) for name in ("bigquery_rest_port", "bigquery_grpc_port", "gemini_port",
                                                          "postgres_port", "spanner_port")})
    try:
        env = up(config)
        assert env["THEMEGEN_SINK"] == "postgres" and "SPANNER_EMULATOR_HOST" not in env
        assert not pid_path(state_dir, "spanner").exists()
        dsn = env["THEMEGEN_POSTGRES_DSN"]
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute("INSERT INTO themes (source_id, themes) VALUES ('a', '{x}')")
        capsys.readouterr()

        up(config)
        said = capsys.readouterr().out
        assert "database themegen kept: 1 rows in themes (`themegen stack up --sink postgres --reset` empties it)" in said
        up(config.model_copy(update={"reset": True}))
        assert "--reset: database themegen dropped and created empty with themes, theme_failures" in capsys.readouterr().out
        with psycopg.connect(dsn, autocommit=True) as db:
            assert db.execute("SELECT COUNT(*) FROM themes").fetchone()[0] == 0
            assert db.execute("SELECT COUNT(*) FROM theme_failures").fetchone()[0] == 0
    finally:
        down(config)
        shutil.rmtree(state_dir, ignore_errors=True)
