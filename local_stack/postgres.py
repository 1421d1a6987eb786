"""PostgreSQL for the local Prefect server: `themegen stack up --prefect-database postgres`.

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

import asyncio
import glob
import os
import shutil
import subprocess
from pathlib import Path

from local_stack.processes import HOST, StackError, start_process

NAME = "postgres"
LABEL = "PostgreSQL for the Prefect server (local)"
DATABASE = "prefect"
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
                     "(Debian: apt-get install postgresql) or use the default --prefect-database sqlite.")


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


def postgres_ready(port: int) -> bool:
    """True once the server accepts connections; creates the Prefect database the first time."""
    return asyncio.run(_ensure_database(port))


async def _ensure_database(port: int) -> bool:
    import asyncpg  # Prefect's own PostgreSQL driver

    try:
        connection = await asyncpg.connect(host=HOST, port=port, user=USER, database="postgres", timeout=2)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await connection.execute(f'CREATE DATABASE "{DATABASE}"')
        return True
    finally:
        await connection.close()


def database_url(port: int) -> str:
    """PREFECT_API_DATABASE_CONNECTION_URL for the Prefect server."""
    return f"postgresql+asyncpg://{USER}@{HOST}:{port}/{DATABASE}"
