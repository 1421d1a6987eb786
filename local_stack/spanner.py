"""Cloud Spanner for the local stack: Google's own emulator binary (gRPC only)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Literal

from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import spanner
from google.cloud.spanner_admin_instance_v1 import ListInstanceConfigsRequest

from local_stack.processes import HOST, StackError, start_process

NAME = "spanner"
LABEL = "Spanner: Cloud Spanner emulator (local emulator)"
EMULATOR_CONFIG = "emulator-config"  # the only instance config the emulator offers
BIN_ENV = "THEMEGEN_SPANNER_EMULATOR_BIN"
_CREATE_TABLE = re.compile(r"\s*CREATE TABLE (\w+)", re.IGNORECASE)
INSTALL_HELP = (
    "Cloud Spanner emulator not found. Install it with one of:\n"
    "  gcloud components install cloud-spanner-emulator\n"
    "  sudo apt-get install google-cloud-cli-spanner-emulator   (apt-installed Google Cloud CLI)\n"
    f"or point {BIN_ENV} at its emulator_main binary. Without a local binary, run the image\n"
    "  docker run -p 9010:9010 gcr.io/cloud-spanner-emulator/emulator\n"
    "and set SPANNER_EMULATOR_HOST=127.0.0.1:9010."
)


def find_emulator() -> Path:
    """The emulator_main binary: $THEMEGEN_SPANNER_EMULATOR_BIN, the gcloud SDK, or PATH."""
    configured = os.environ.get(BIN_ENV)
    if configured:
        if not Path(configured).is_file():
            raise StackError(f"{BIN_ENV}={configured} does not exist.\n{INSTALL_HELP}")
        return Path(configured)
    if shutil.which("gcloud"):
        try:
            sdk_root = subprocess.run(
                ["gcloud", "info", "--format=value(installation.sdk_root)"],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout.strip()  # fmt: skip
        except (subprocess.SubprocessError, OSError):
            sdk_root = ""  # a broken gcloud is no reason to ignore an emulator_main on PATH
        candidate = Path(sdk_root) / "bin" / "cloud_spanner_emulator" / "emulator_main"
        if sdk_root and candidate.is_file():
            return candidate
    on_path = shutil.which("emulator_main")
    if on_path:
        return Path(on_path)
    raise StackError(INSTALL_HELP)


def start_spanner(state_dir: Path, port: int) -> int:
    return start_process(NAME, [str(find_emulator()), "--host_port", f"{HOST}:{port}"], state_dir)


def spanner_client(project: str, host: str) -> spanner.Client:
    """A client for the emulator at `host` ("127.0.0.1:9010", no scheme), no credentials."""
    # google-cloud-spanner lets SPANNER_EMULATOR_HOST win over client_options: a stale value (say
    # from a sourced stack.env) would silently send every call to another emulator.
    from_env = os.environ.get("SPANNER_EMULATOR_HOST")
    if from_env and from_env != host:
        raise StackError(f"SPANNER_EMULATOR_HOST={from_env} overrides the emulator at {host}: unset it")
    return spanner.Client(
        project=project,
        client_options={"api_endpoint": host},
        credentials=AnonymousCredentials(),
        # Otherwise the client sets up a Cloud Monitoring exporter that has nowhere to go.
        disable_builtin_metrics=True,
    )


def spanner_ready(project: str, port: int) -> bool:
    """True if a Spanner instance admin API answers on the port (the emulator always lists one)."""
    client = spanner_client(project, f"{HOST}:{port}")
    try:
        configs = client.instance_admin_api.list_instance_configs(
            request=ListInstanceConfigsRequest(parent=f"projects/{project}"), timeout=2, retry=None
        )
        return any(c.name.endswith(f"/{EMULATOR_CONFIG}") for c in configs)
    except exceptions.GoogleAPICallError:
        return False


def ensure_database(
    project: str, instance: str, database: str, ddl_statements: list[str], host: str | None = None,
    reset: bool = False,
) -> Literal["created", "kept", "recreated"]:
    """Create the instance and the database when missing. An existing database keeps its rows (tables
    it lacks are added); only `reset` drops it and creates it empty. Returns which of the three it did.

    `host` is the emulator's "127.0.0.1:PORT"; by default SPANNER_EMULATOR_HOST.
    """
    host = host or os.environ.get("SPANNER_EMULATOR_HOST")
    if not host:
        raise StackError("ensure_database needs host= or SPANNER_EMULATOR_HOST (the local emulator)")
    client = spanner_client(project, host)
    spanner_instance = client.instance(
        instance,
        configuration_name=f"projects/{project}/instanceConfigs/{EMULATOR_CONFIG}",
        display_name=instance,
        node_count=1,
    )
    if not spanner_instance.exists():
        spanner_instance.create().result(timeout=60)
    spanner_database = spanner_instance.database(database, ddl_statements=ddl_statements)
    if not spanner_database.exists():
        spanner_database.create().result(timeout=60)
        return "created"
    if not reset:
        _add_missing_tables(spanner_database, ddl_statements)
        return "kept"
    spanner_database.drop()
    spanner_database.create().result(timeout=60)
    return "recreated"


def _add_missing_tables(database, ddl_statements: list[str]) -> None:
    existing = {table.table_id for table in database.list_tables()}
    missing = [ddl for ddl in ddl_statements if _CREATE_TABLE.match(ddl).group(1) not in existing]
    if missing:
        database.update_ddl(missing).result(timeout=60)


def count_rows(project: str, instance: str, database: str, table: str, host: str) -> int:
    with spanner_client(project, host).instance(instance).database(database).snapshot() as snapshot:
        return next(iter(snapshot.execute_sql(f"SELECT COUNT(*) FROM {table}")))[0]
