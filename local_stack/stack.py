"""`stack up` / `stack down`: every local part as its own process on 127.0.0.1.

Parts: the sink (the Cloud Spanner emulator, or the machine's PostgreSQL server with `sink=postgres`:
local_stack/sinks.py), bqemulator (BigQuery), the Gemini SIMULATOR, the real Prefect server and a process
worker of it (local_stack/worker.py). `up()` writes `<state_dir>/stack.env`, the settings that point the
pipeline at them.
Nothing here keeps module state, so a test session can run its own stack on free ports.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from google.api_core.exceptions import NotFound
from pydantic import BaseModel, ConfigDict, Field, model_validator

from local_stack import bigquery, gcs, gemini, postgres, prefect_server, sinks, spanner, spanner_export, worker
from local_stack.processes import (
    HOST,
    StackError,
    log_path,
    port_is_free,
    running_pid,
    stop_process,
    wait_until,
)
from local_stack.sample_data import generate_rows

ENV_FILE = "stack.env"
Port = Annotated[int, Field(ge=1, le=65535)]
# Prefect settings of every flow run, as prefect.yaml gives deployed runs: heartbeats for the
# zombie-run automation (deployments/zombie-flow-runs.yaml; 30 s is Prefect's minimum), and API
# calls that wait out a ~2-minute Prefect outage (7 retries back off 2+4+...+128 = 254 s; the default
# 5 gives up after ~62 s and the run's final state is lost).
PREFECT_RUN_ENV = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30", "PREFECT_CLIENT_MAX_RETRIES": "7"}


class StackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state_dir: Path = Path(".themegen")
    project: str = "themegen-local"
    dataset: str = "themegen"
    table: str = "feedback"
    spanner_instance: str = "themegen"
    spanner_database: str = "themegen"
    themes_table: str = "Themes"
    failures_table: str = "ThemeFailures"
    judgements_table: str = "ThemeJudgements"
    canonical_table: str = "CanonicalThemes"
    theme_map_table: str = "ThemeCanonicalMap"
    spanner_port: Port = 9010
    bigquery_rest_port: Port = 9050
    bigquery_grpc_port: Port = 9060
    gemini_port: Port = 9070
    prefect_port: Port = 4200
    # SQLite serialises the Prefect server's writes: fine for one flow run, slow for several
    # processes sharing limits (local_stack/postgres.py).
    prefect_database: Literal["sqlite", "postgres"] = "sqlite"
    # Where themes go: the Spanner emulator, or PostgreSQL (database `themegen`, the sink's default
    # table names; the same server as a PostgreSQL Prefect database).
    sink: Literal["spanner", "postgres"] = "spanner"
    postgres_port: Port = 5439
    # Cloud Storage emulator (local_stack/gcs.py) and the row cache on a GcsBucket block on it, as
    # the Cloud Run deployment runs; None: not started, the row cache is the SQLite file.
    gcs_port: Port | None = None
    seed_rows: int = Field(30_000, ge=0)
    # The simulator enforces this quota (HTTP 429 + RetryInfo above it) and the pipeline is told
    # the same number (THEMEGEN_RPM), as a user would configure their real Gemini quota.
    gemini_rpm: int = Field(60_000, ge=1)
    gemini_latency_s: float = Field(0.0, ge=0)
    gemini_latency_jitter_s: float = Field(0.0, ge=0)
    start_prefect: bool = True
    # Wipe the stack's data: the sink's database (recreated empty), the sample table (seeded again)
    # and the row cache. Without it `up` keeps whatever data the running stack already holds.
    reset: bool = False

    @model_validator(mode="after")
    def _distinct_ports(self) -> StackConfig:
        ports = [self.bigquery_rest_port, self.bigquery_grpc_port, self.gemini_port]
        ports += [self.spanner_port] if self.sink == "spanner" else []
        ports += [self.prefect_port] if self.start_prefect else []
        ports += [self.postgres_port] if self.uses_postgres else []
        ports += [self.gcs_port] if self.gcs_port is not None else []
        if len(set(ports)) != len(ports):
            raise ValueError(f"the stack's ports must differ, got {ports}")
        return self

    @property
    def spanner_tables(self) -> list[str]:
        """The sink's tables in the Spanner emulator, which `stack down` saves and `stack up` loads."""
        return [self.themes_table, self.failures_table, self.judgements_table, self.canonical_table,
                self.theme_map_table]

    @property
    def uses_postgres(self) -> bool:
        return self.sink == "postgres" or (self.start_prefect and self.prefect_database == "postgres")


@dataclass(frozen=True)
class _Part:
    name: str  # pid/log file name
    label: str  # printed on every line about this part, says honestly what it is
    ports: dict[str, int]  # StackConfig setting -> port, for "port taken" messages
    start: Callable[[], int]  # returns the pid
    ready: Callable[[], bool]  # answers on its port(s) as this very kind of server
    timeout_s: float


def _parts(config: StackConfig) -> list[_Part]:
    """All parts of `config`, slowest first: Prefect needs ~10 s (more on its first start); PostgreSQL
    before it, since a Prefect server on PostgreSQL waits for it."""
    state, project = config.state_dir, config.project
    rest, grpc = config.bigquery_rest_port, config.bigquery_grpc_port
    parts = [
        _Part(
            gemini.NAME, gemini.LABEL, {"gemini_port": config.gemini_port},
            start=lambda: gemini.start_gemini(state, config.gemini_port),
            ready=lambda: gemini.gemini_ready(config.gemini_port),
            timeout_s=30,
        ),
        _Part(
            bigquery.NAME, bigquery.LABEL, {"bigquery_rest_port": rest, "bigquery_grpc_port": grpc},
            start=lambda: bigquery.start_bigquery(state, project, rest, grpc),
            ready=lambda: bigquery.bigquery_ready(rest, grpc),
            timeout_s=60,
        ),
    ]  # fmt: skip
    if config.sink == "spanner":
        parts.insert(0, _Part(
            spanner.NAME, spanner.LABEL, {"spanner_port": config.spanner_port},
            start=lambda: spanner.start_spanner(state, config.spanner_port),
            ready=lambda: spanner.spanner_ready(project, config.spanner_port),
            timeout_s=30,
        ))  # fmt: skip
    if config.gcs_port is not None:
        parts.append(_Part(gcs.NAME, gcs.LABEL, {"gcs_port": config.gcs_port},
                           start=lambda: gcs.start_gcs(state, config.gcs_port),
                           ready=lambda: gcs.gcs_ready(state, config.gcs_port), timeout_s=30))
    if config.start_prefect:
        prefect = _Part(
            prefect_server.NAME, prefect_server.LABELS[config.prefect_database], {"prefect_port": config.prefect_port},
            start=lambda: _start_prefect(config),
            ready=lambda: prefect_server.prefect_ready(config.prefect_port),
            timeout_s=120,
        )  # fmt: skip
        parts.insert(0, prefect)
    if config.uses_postgres:
        port = config.postgres_port
        parts.insert(0, _Part(postgres.NAME, postgres.LABEL, {"postgres_port": port},
                              start=lambda: postgres.start_postgres(state, port),
                              ready=lambda: postgres.postgres_ready(port), timeout_s=60))
    if config.start_prefect:
        # Last to be ready: it waits for the server, then serves the pool `themegen run` sends its runs to.
        api_url = f"http://{HOST}:{config.prefect_port}/api"
        parts.append(_Part(worker.NAME, worker.LABEL, {}, start=lambda: worker.start_worker(state, stack_env(config)),
                           ready=lambda: worker.worker_ready(state, api_url), timeout_s=150))
    return parts


def _start_prefect(config: StackConfig) -> int:
    """The Prefect server, once its PostgreSQL database answers when it uses one (that part starts first)."""
    if config.prefect_database == "sqlite":
        return prefect_server.start_prefect(config.state_dir, config.prefect_port)
    port = config.postgres_port
    wait_until(lambda: postgres.postgres_ready(port), 60, f"{postgres.LABEL} on port {port}",
               log_path(config.state_dir, postgres.NAME))
    postgres.ensure_database(port, postgres.PREFECT_DATABASE)
    return prefect_server.start_prefect(config.state_dir, config.prefect_port, postgres.database_url(port))


def _say(label: str, message: str) -> None:
    print(f"{label}: {message}", flush=True)


def _needs_start(part: _Part, state_dir: Path) -> bool:
    """False when our own earlier process still serves `part` (it is reused); checks its ports."""
    pid = running_pid(state_dir, part.name)
    if pid is not None:
        if part.ready():
            _say(part.label, f"already running (pid {pid}), reused")
            return False
        # Ours but not answering on the configured port(s): hung, or started with other ports.
        stop_process(state_dir, part.name)
    for setting, port in part.ports.items():
        if not port_is_free(port):
            raise StackError(
                f"{part.label}: port {port} ({setting}) is already in use by another program. "
                f"Stop that program or choose another port: StackConfig({setting}=...)."
            )
    return True


def up(config: StackConfig) -> dict[str, str]:
    """Start (or reuse) every part, prepare Spanner and BigQuery, write stack.env, return its values."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if config.reset:
        _empty_row_cache(config)
    parts = _parts(config)
    launched: dict[str, int] = {}  # part name -> pid, for this call only
    try:
        # Every port is checked before anything starts, so a conflict leaves nothing behind.
        to_start = [part for part in parts if _needs_start(part, config.state_dir)]
        # All processes next, so they start up side by side; then wait for the fast ones first.
        for part in to_start:
            launched[part.name] = pid = part.start()
            ports = ", ".join(map(str, part.ports.values()))
            log = log_path(config.state_dir, part.name)
            _say(part.label, f"starting{f' on {HOST}:{ports}' if ports else ''} (pid {pid}, log {log})")
        for part in sorted(parts, key=lambda p: p.timeout_s):
            log = log_path(config.state_dir, part.name)
            ports = ", ".join(map(str, part.ports.values()))
            what = part.label + (f" on port(s) {ports}" if ports else "")
            wait_until(part.ready, part.timeout_s, what, log, launched.get(part.name))
            _say(part.label, f"ready after {time.monotonic() - t0:.1f} s")
            if part.name == sinks.SERVER[config.sink]:
                sinks.prepare(config)
            elif part.name == gemini.NAME:
                _say(gemini.LABEL, gemini.configure(config.gemini_port, config.gemini_rpm, config.gemini_latency_s,
                                                    config.gemini_latency_jitter_s, config.bigquery_rest_port))
            elif part.name == bigquery.NAME:
                _prepare_sample_table(config)
        if config.gcs_port is not None:  # its blocks go to the Prefect server, ready by now
            api = f"http://{HOST}:{config.prefect_port}/api" if config.start_prefect else None
            _say(gcs.LABEL, gcs.prepare(config.state_dir, config.gcs_port, config.project, api, config.reset))
    except BaseException:
        # A half-started stack is worse than none: stop what this call started (logs stay).
        for name in launched:
            stop_process(config.state_dir, name)
        raise
    env = stack_env(config)
    env_file = config.state_dir / ENV_FILE
    lines = ["# Written by `stack up`: local emulators and a Gemini SIMULATOR, not Google Cloud."]
    env_file.write_text("\n".join(lines + [f"{key}={value}" for key, value in env.items()]) + "\n")
    print(f"Local stack ready in {time.monotonic() - t0:.1f} s; settings in {env_file}", flush=True)
    return env


def _prepare_sample_table(config: StackConfig) -> None:
    """Seed the sample table when it is missing (or on reset); an existing one is kept as it is."""
    if not config.reset:
        client = bigquery.bigquery_client(config.project, f"http://{HOST}:{config.bigquery_rest_port}")
        table_id = f"{config.project}.{config.dataset}.{config.table}"
        try:
            rows = client.get_table(table_id).num_rows
        except NotFound:
            rows = None
        if rows is not None:
            _say(bigquery.LABEL, f"{table_id} kept: {rows:,} rows (`themegen seed --rows N` replaces it)")
            return
    seed(config, config.seed_rows)


def _empty_row_cache(config: StackConfig) -> None:
    spanner_export.forget_export(config.state_dir)  # --reset starts empty: the saved Spanner rows go too
    cache = config.state_dir / "cache"
    if cache.exists():
        shutil.rmtree(cache)
        _say("Row cache", f"--reset: {cache} emptied")


def stack_env(config: StackConfig) -> dict[str, str]:
    """The settings (environment variables) that point the pipeline at this stack."""
    env = {
        "THEMEGEN_STACK": "local-simulated",  # honest label: emulators + a simulated Gemini
        "THEMEGEN_GCP_PROJECT": config.project,
        "THEMEGEN_GCP_CREDENTIALS": "anonymous",
        "THEMEGEN_BQ_API_ENDPOINT": f"http://{HOST}:{config.bigquery_rest_port}",
        "THEMEGEN_BQ_STORAGE_ENDPOINT": f"http://{HOST}:{config.bigquery_grpc_port}",  # plaintext gRPC
        "THEMEGEN_BQ_DATASET": config.dataset,
        "THEMEGEN_BQ_TABLE": config.table,
        **sinks.env(config),
        "THEMEGEN_GEMINI_BACKEND": "api_key",
        "THEMEGEN_GEMINI_API_KEY": gemini.SIM_API_KEY,
        "THEMEGEN_GEMINI_BASE_URL": f"http://{HOST}:{config.gemini_port}",
        "THEMEGEN_RPM": str(config.gemini_rpm),
        # The row cache lives with the stack, so `stack up` in a fresh state dir starts clean.
        "THEMEGEN_CACHE_PATH": str((config.state_dir / "cache").resolve()),
    }
    if config.gcs_port is not None:
        env.update(gcs.gcs_env(config.gcs_port))
    if config.start_prefect:
        env["PREFECT_API_URL"] = f"http://{HOST}:{config.prefect_port}/api"
    env.update(PREFECT_RUN_ENV)
    return env


def down(config: StackConfig) -> None:
    """Stop every part this state dir's pid files name; harmless when nothing runs."""
    names = (prefect_server.NAME, postgres.NAME, gemini.NAME, bigquery.NAME, spanner.NAME, gcs.NAME)
    # The worker first: the flow runs it runs stop writing before the emulator's rows are saved.
    stopped = [worker.NAME] if stop_process(config.state_dir, worker.NAME) else []
    _save_spanner_rows(config)
    stopped += [name for name in names if stop_process(config.state_dir, name)]
    print(f"stopped: {', '.join(stopped)}" if stopped else "local stack: nothing was running", flush=True)


def _save_spanner_rows(config: StackConfig) -> None:
    """The emulator keeps nothing on disk: its tables go to the state dir, for the next `up` to load."""
    host = f"{HOST}:{config.spanner_port}"
    try:
        if not spanner.spanner_ready(config.project, config.spanner_port):
            return
        rows = spanner_export.export_tables(config.project, config.spanner_instance, config.spanner_database,
                                            config.spanner_tables, host, config.state_dir)
    except Exception as exc:  # noqa: BLE001 - stopping must not fail because the export did
        _say(spanner.LABEL, f"could not save its rows before stopping ({type(exc).__name__}: {exc})")
        return
    _say(spanner.LABEL, f"{rows:,} rows saved to {config.state_dir / spanner_export.EXPORT_DIR} (the next `stack up` "
                        "loads them)")


def seed(config: StackConfig, rows: int) -> int:
    """Replace the sample table with `rows` generated rows; the BigQuery emulator must be up."""
    if not bigquery.bigquery_ready(config.bigquery_rest_port, config.bigquery_grpc_port):
        raise StackError(
            f"BigQuery emulator does not answer on port {config.bigquery_rest_port} "
            "(bigquery_rest_port): start the stack first"
        )
    started = time.monotonic()
    client = bigquery.bigquery_client(config.project, f"http://{HOST}:{config.bigquery_rest_port}")
    table_id = f"{config.project}.{config.dataset}.{config.table}"
    loaded = bigquery.seed_table(client, table_id, generate_rows(rows))
    _say(bigquery.LABEL, f"{table_id} seeded with {loaded} rows ({time.monotonic() - started:.1f} s)")
    return loaded


def load_env(state_dir: Path | str) -> dict[str, str]:
    """The KEY=VALUE settings of `<state_dir>/stack.env` (written by `up`)."""
    env_file = Path(state_dir) / ENV_FILE
    if not env_file.is_file():
        raise StackError(f"{env_file} does not exist: start the local stack first")
    env: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env
