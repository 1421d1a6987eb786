"""One local stack per test session: BigQuery emulator, Spanner emulator, Gemini simulator and a
real Prefect server, each on a free port, with a state dir under pytest's tmp dir."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import spanner

from local_stack.processes import free_port
from local_stack.stack import StackConfig, down, up

SEED_ROWS = 300


@dataclass
class Stack:
    config: StackConfig
    env: dict[str, str]
    sim_defaults: dict = field(default_factory=dict)  # the simulator's knobs as `stack up` set them

    @property
    def gemini_url(self) -> str:
        return self.env["THEMEGEN_GEMINI_BASE_URL"]

    def sim(self, path: str, body: dict | None = None) -> dict:
        """GET (or POST with a body) one of the simulator's /_sim endpoints."""
        url = f"{self.gemini_url}/_sim/{path}"
        response = httpx.post(url, json=body) if body is not None else httpx.get(url)
        response.raise_for_status()
        return response.json()

    def database(self):
        client = spanner.Client(
            project=self.config.project, credentials=AnonymousCredentials(), disable_builtin_metrics=True
        )
        return client.instance(self.config.spanner_instance).database(self.config.spanner_database)

    def read_table(self, sql: str) -> list[list]:
        with self.database().snapshot() as snap:
            return [list(row) for row in snap.execute_sql(sql)]

    @property
    def cache_path(self) -> Path:
        return Path(self.env["THEMEGEN_CACHE_PATH"])

    def clear_outputs(self) -> None:
        """Empty both Spanner tables, the row cache and the simulator's counters (a clean start)."""
        def delete_all(tx):
            tx.execute_update(f"DELETE FROM {self.config.themes_table} WHERE TRUE")
            tx.execute_update(f"DELETE FROM {self.config.failures_table} WHERE TRUE")

        self.database().run_in_transaction(delete_all)
        shutil.rmtree(self.cache_path, ignore_errors=True)
        self.sim("config", self.sim_defaults)  # undo fault knobs an earlier test set
        self.sim("reset", {})


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    ports = {name: free_port() for name in
             ("spanner_port", "bigquery_rest_port", "bigquery_grpc_port", "gemini_port", "prefect_port")}
    config = StackConfig(state_dir=tmp_path_factory.mktemp("stack"), seed_rows=SEED_ROWS, **ports)
    env = up(config)
    saved = dict(os.environ)
    os.environ.update(env)
    # Unlimited local quota for functional tests; throughput is the benchmarks' business.
    os.environ["THEMEGEN_RPM"] = "600000"
    try:
        with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
            stack = Stack(config, env)
            stack.sim_defaults = stack.sim("config")
            yield stack
            APILogHandler().flush()  # send buffered run logs while the server is still up
    finally:
        os.environ.clear()
        os.environ.update(saved)
        down(config)
