"""The real Prefect server (API + UI) for the local stack, with its own SQLite database, or a local
PostgreSQL one (local_stack/postgres.py says when that matters)."""

from __future__ import annotations

import sys
from pathlib import Path

from local_stack.processes import HOST, http_get, start_process

NAME = "prefect"
LABELS = {"sqlite": "Prefect: real server (local SQLite)", "postgres": "Prefect: real server (local PostgreSQL)"}


def start_prefect(state_dir: Path, port: int, database_url: str | None = None) -> int:
    """`database_url` None: SQLite under the state dir."""
    env = {
        # Its own PREFECT_HOME keeps the SQLite database and profiles out of ~/.prefect.
        "PREFECT_HOME": str(Path(state_dir).resolve() / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_UI_ENABLED": "true",
        # Without these a server on --port N tells its UI to call 127.0.0.1:4200 (the default port).
        "PREFECT_SERVER_UI_API_URL": f"http://{HOST}:{port}/api",
        "PREFECT_UI_URL": f"http://{HOST}:{port}",
        # Concurrency-slot leases on disk, not in the server's memory: after a server restart (an
        # outage, a crash) the slots a running batch held are still released, instead of holding
        # the `gemini` tag limit full for good.
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
    }
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
    return start_process(NAME, argv, state_dir, env=env)


def prefect_ready(port: int) -> bool:
    """True once the Prefect API health endpoint answers `true`."""
    answer = http_get(f"http://{HOST}:{port}/api/health")
    return answer is not None and answer[0] == 200 and answer[1].strip() == b"true"
