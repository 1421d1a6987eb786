"""PostgreSQL for the local stack: the themes sink (`themegen stack up --sink postgres`, database
`themegen`) and the Prefect server's database (`--prefect-database postgres`, database `prefect`),
one server for both.

Prefect's advice is SQLite for one user and PostgreSQL once several processes write at once, and
we measured why. On SQLite, slot requests that arrive together fail with "database is locked"
(Prefect's concurrency endpoints read, then write, in a deferred transaction), the server answers
503 and the client waits 2 s or more: a test taking 12 chunks of a shared Gemini limit from two
limiters spent ~2 s per chunk, and tagged tasks of one flow started 2-7 s apart. On PostgreSQL the
same requests take milliseconds. Multi-process benchmarks (bench/throughput.py --processes 2) use it.

It runs the machine's own PostgreSQL server binaries (Debian: `apt-get install postgresql`), as the
`postgres` user when we are root (PostgreSQL refuses to run as root), with its data in the state
dir, trust authentication on 127.0.0.1 only, and fsync off: a throwaway database for a local stack.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import psycopg

from local_stack.processes import HOST, StackError, start_process

NAME = "postgres"
LABEL = "PostgreSQL: the machine's server (local)"
PREFECT_DATABASE = "prefect"
SINK_DATABASE = "themegen"
USER = "postgres"


def _bindir() -> Path:
    """The directory holding `initdb` and `postgres`: on PATH, or Debian's versioned directory."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    raise StackError(f"{LABEL}: no PostgreSQL server found (initdb, postgres). Install it "
                     "(Debian: apt-get install postgresql), or use the defaults --prefect-database sqlite and --sink spanner.")


def _as_owner(argv: list[str | Path]) -> list[str]:
    argv = [str(arg) for arg in argv]
    return ["runuser", "-u", USER, "--", *argv] if os.geteuid() == 0 else argv


def start_postgres(state_dir: Path, port: int) -> int:
    """initdb on first use, then start the server; returns its pid (see processes.start_process)."""
    bindir = _bindir()
    data = (Path(state_dir) / "postgres").resolve()
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, USER, USER)
        done = subprocess.run(_as_owner([bindir / "initdb", "-D", data, "-A", "trust", "-U", USER, "--no-sync"]),
                              capture_output=True, text=True)
        if done.returncode:
            raise StackError(f"{LABEL}: initdb failed in {data}:\n{done.stdout}{done.stderr}")
    argv = [bindir / "postgres", "-D", data, "-p", port, "-k", data, "-c", f"listen_addresses={HOST}",
            "-c", "fsync=off", "-c", "max_connections=200"]
    return start_process(NAME, _as_owner(argv), state_dir)


def _connect(port: int, database: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(host=HOST, port=port, user=USER, dbname=database, connect_timeout=2, autocommit=True)


def postgres_ready(port: int) -> bool:
    """True once the server accepts connections."""
    try:
        _connect(port).close()
    except psycopg.OperationalError:
        return False
    return True


def ensure_database(port: int, database: str, ddl: Sequence[str] = (), reset: bool = False
                    ) -> Literal["created", "kept", "recreated"]:
    """Create `database` when missing, with the tables of `ddl` (statements that create only what is
    missing, CREATE TABLE IF NOT EXISTS). An existing database keeps its rows; `reset` drops it and
    creates it empty. Returns which of the three it did."""
    with _connect(port) as server:
        exists = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists and reset:
            server.execute(f'DROP DATABASE "{database}" WITH (FORCE)')  # FORCE: a stale run's connections
        if not exists or reset:
            server.execute(f'CREATE DATABASE "{database}"')
    with _connect(port, database) as connection:
        for statement in ddl:
            connection.execute(statement)
    return "recreated" if exists and reset else "kept" if exists else "created"


def count_rows(port: int, database: str, table: str) -> int:
    with _connect(port, database) as connection:
        return connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]


def database_url(port: int) -> str:
    """PREFECT_API_DATABASE_CONNECTION_URL for the Prefect server."""
    return f"postgresql+asyncpg://{USER}@{HOST}:{port}/{PREFECT_DATABASE}"


def sink_dsn(port: int) -> str:
    """THEMEGEN_POSTGRES_DSN for the themes sink (trust authentication: no password)."""
    return f"postgresql://{USER}@{HOST}:{port}/{SINK_DATABASE}"
