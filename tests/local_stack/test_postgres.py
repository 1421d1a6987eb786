"""The optional PostgreSQL database of the local Prefect server (`stack up --prefect-database postgres`)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest

from local_stack import postgres
from local_stack.processes import StackError, port_is_free, stop_process, wait_until


def test_a_missing_postgresql_server_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(StackError, match=r"apt-get install postgresql.*--prefect-database sqlite"):
        postgres.start_postgres(Path("/nonexistent"), 5439)


def _installed() -> bool:
    try:
        postgres._bindir()
    except StackError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="no PostgreSQL server binaries on this machine")
def test_it_starts_and_serves_the_prefect_database():
    # Not pytest's tmp_path: its parents are root-only, and the server runs as `postgres` under root.
    tmp_path = Path(tempfile.mkdtemp(prefix="themegen-pg-"))
    tmp_path.chmod(0o755)
    port = next(p for p in range(55432, 55532) if port_is_free(p))
    pid = postgres.start_postgres(tmp_path, port)
    try:
        wait_until(lambda: postgres.postgres_ready(port), 60, "postgres", pid=pid)

        async def databases() -> list[str]:
            import asyncpg

            url = postgres.database_url(port).replace("postgresql+asyncpg", "postgresql")
            connection = await asyncpg.connect(url)
            try:
                return [row[0] for row in await connection.fetch("SELECT datname FROM pg_database")]
            finally:
                await connection.close()

        assert postgres.DATABASE in asyncio.run(databases())
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
