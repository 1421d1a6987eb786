"""One local stack per test session: BigQuery emulator, Spanner emulator, Gemini simulator and a
real Prefect server, each on a free port, with a state dir under pytest's tmp dir; and, for the tests
that run on every sink (the `sink` fixture), the machine's PostgreSQL server, started once when the
first of them needs it."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import httpx
import psycopg
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import spanner

from local_stack import postgres, sinks
from local_stack.processes import free_port, log_path, stop_process, wait_until
from local_stack.stack import StackConfig, down, up
from themegen.sink.postgres.schema import all_ddl as postgres_ddl

# The suite reads no developer's stack: `themegen` in this process loads stack.env from THEMEGEN_STATE_DIR
# (by default the checkout's .themegen), which on a machine where `themegen stack up` ran names that stack's
# cache block and ports. An empty directory of its own, as on a clean clone (set before the CLI is imported).
os.environ["THEMEGEN_STATE_DIR"] = tempfile.mkdtemp(prefix="themegen-tests-")
atexit.register(shutil.rmtree, os.environ["THEMEGEN_STATE_DIR"], True)

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

    @property
    def done_record_table(self) -> str:
        return f"{self.config.project}.{self.config.dataset}.themegen_done"

    def bigquery(self):
        from local_stack.bigquery import bigquery_client

        return bigquery_client(self.config.project, self.env["THEMEGEN_BQ_API_ENDPOINT"])

    def drop_done_record(self) -> None:
        """Forget the BigQuery copy of what the sink holds (the sink is emptied with it)."""
        self.bigquery().delete_table(self.done_record_table, not_found_ok=True)

    def clear_outputs(self) -> None:
        """Empty both Spanner tables, the row cache and the simulator's counters (a clean start)."""
        def delete_all(tx):
            tx.execute_update(f"DELETE FROM {self.config.themes_table} WHERE TRUE")
            tx.execute_update(f"DELETE FROM {self.config.failures_table} WHERE TRUE")

        self.database().run_in_transaction(delete_all)
        self.drop_done_record()
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
    os.environ["THEMEGEN_TAXONOMY_EMBED_RPM"] = "600000"  # every full run builds the taxonomy too
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


# --- the sinks: every adapter of the Sink port, read without it ----------------------------------

class ThemeRow(NamedTuple):
    themes: list[str]
    model: str
    prompt_version: str
    prompt_fingerprint: str
    input_hash: str
    generated_at: datetime


class FailureRow(NamedTuple):
    batch_id: int
    reason: str
    error: str
    attempts: int
    flow_run_id: str | None


class JudgementRow(NamedTuple):
    themes: list[str]
    verdicts: list[str]
    cover: bool
    judge_model: str
    flow_run_id: str | None


class SinkTables:
    """One sink's tables as the database holds them, read with its own client (never our adapter),
    so a test counts what landed independently of the code under test."""

    name: str
    _THEMES: str  # id, then ThemeRow's columns
    _FAILURES: str  # id, then FailureRow's columns

    def __init__(self, stack: Stack, env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.env = {"THEMEGEN_SINK": self.name, **(env or {})}  # what points a run at this sink

    def rows(self, sql: str) -> list[list]:
        raise NotImplementedError

    def delete_all(self) -> None:
        raise NotImplementedError

    def themes(self) -> dict[str, ThemeRow]:
        return {row[0]: ThemeRow(*row[1:]) for row in self.rows(self._THEMES)}

    def failures(self) -> dict[str, FailureRow]:
        return {row[0]: FailureRow(*row[1:]) for row in self.rows(self._FAILURES)}

    def judgements(self) -> dict[str, JudgementRow]:
        """The quality judge's table: id -> its latest judgement (one judge model per test)."""
        return {row[0]: JudgementRow(*row[1:]) for row in self.rows(self._JUDGEMENTS)}

    def theme_ids(self) -> set[str]:
        return set(self.themes())

    def theme_rows(self) -> int:
        """Rows in the themes table (an id twice would count twice)."""
        return len(self.rows(self._THEMES))

    def clear_outputs(self) -> None:
        """Empty this sink's tables, then everything stack.clear_outputs empties."""
        self.delete_all()
        self.stack.clear_outputs()


class SpannerTables(SinkTables):
    name = "spanner"
    # qualified: the column Themes shares its table's name (README, "Spanner DDL")
    _THEMES = ("SELECT t.SourceId, t.Themes, t.Model, t.PromptVersion, t.PromptFingerprint, t.InputHash, "
               "t.GeneratedAt FROM Themes AS t")
    _FAILURES = "SELECT SourceId, BatchId, Reason, Error, Attempts, FlowRunId FROM ThemeFailures"
    _JUDGEMENTS = "SELECT SourceId, Themes, Verdicts, Cover, JudgeModel, FlowRunId FROM ThemeJudgements"

    def rows(self, sql: str) -> list[list]:
        return self.stack.read_table(sql)

    def delete_all(self) -> None:
        # stack.clear_outputs empties the themes and failures tables
        def delete(tx):
            for table in ("ThemeJudgements", "CanonicalThemes", "ThemeCanonicalMap"):
                tx.execute_update(f"DELETE FROM {table} WHERE TRUE")

        self.stack.database().run_in_transaction(delete)


class PostgresTables(SinkTables):
    name = "postgres"
    _THEMES = ("SELECT source_id, themes, model, prompt_version, prompt_fingerprint, input_hash, generated_at "
               f'FROM "{sinks.postgres_tables()[0]}"')
    _FAILURES = ("SELECT source_id, batch_id, reason, error, attempts, flow_run_id "
                 f'FROM "{sinks.postgres_tables()[1]}"')
    _JUDGEMENTS = "SELECT source_id, themes, verdicts, cover, judge_model, flow_run_id FROM theme_judgements"

    def __init__(self, stack: Stack, dsn: str) -> None:
        super().__init__(stack, {"THEMEGEN_POSTGRES_DSN": dsn})
        self.dsn = dsn

    def rows(self, sql: str) -> list[list]:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            return [list(row) for row in connection.execute(sql).fetchall()]

    def delete_all(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute("TRUNCATE " + ", ".join(f'"{table}"' for table in (
                *sinks.postgres_tables(), "theme_judgements", "canonical_themes", "theme_canonical_map")))


@dataclass(frozen=True)
class PostgresServer:
    port: int
    dsn: str  # the sink's database, with its tables


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The machine's PostgreSQL server with the sink's database `themegen`, as `stack up --sink postgres`
    prepares it."""
    # Not pytest's tmp dir: its parents are root-only, and the server runs as `postgres` under root.
    state_dir = Path(tempfile.mkdtemp(prefix="themegen-pg-"))
    state_dir.chmod(0o755)
    port = free_port()
    try:
        pid = postgres.start_postgres(state_dir, port)
        wait_until(lambda: postgres.postgres_ready(port), 60, "PostgreSQL", log_path(state_dir, postgres.NAME), pid)
        postgres.ensure_database(port, postgres.SINK_DATABASE, postgres_ddl(*sinks.postgres_tables()))
        yield PostgresServer(port, postgres.sink_dsn(port))
    finally:
        stop_process(state_dir, postgres.NAME)
        shutil.rmtree(state_dir, ignore_errors=True)


SINKS = ("spanner", "postgres")


@pytest.fixture(params=SINKS)
def sink(request: pytest.FixtureRequest, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> SinkTables:
    """The test runs once per sink: THEMEGEN_SINK (and its settings) point every run of it there, in
    this process and in the runs it starts; the value reads that sink's tables."""
    if request.param == "postgres":
        tables: SinkTables = PostgresTables(stack, request.getfixturevalue("postgres_server").dsn)
    else:
        tables = SpannerTables(stack)
    for name, value in tables.env.items():
        monkeypatch.setenv(name, value)
    return tables
