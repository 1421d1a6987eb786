"""BigQuery for the local stack: the bqemulator package (DuckDB inside) in its own process."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import duckdb
import duckdb_extensions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from local_stack.processes import HOST, http_get, port_is_free, start_process

NAME = "bigquery"
LABEL = "BigQuery: bqemulator (local emulator)"
SCHEMA = [
    bigquery.SchemaField("id", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("text", "STRING"),
    bigquery.SchemaField("lang", "STRING"),
    bigquery.SchemaField("created_at", "TIMESTAMP"),
]


def ensure_spatial_extension() -> None:
    """Install DuckDB's spatial extension from its wheel: bqemulator needs it, and DuckDB's own
    download does not work offline. The installed check is cheap, the install runs once."""
    with duckdb.connect() as con:
        installed = con.sql(
            "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'spatial'"
        ).fetchone()
        if not (installed and installed[0]):
            duckdb_extensions.import_extension("spatial", con=con)


def start_bigquery(state_dir: Path, project: str, rest_port: int, grpc_port: int) -> int:
    ensure_spatial_extension()
    argv = [
        sys.executable, "-m", "bqemulator", "start",
        "--rest-host", HOST, "--rest-port", str(rest_port),
        "--grpc-host", HOST, "--grpc-port", str(grpc_port),
        "--project", project, "--log-level", "warning",
    ]  # fmt: skip
    return start_process(NAME, argv, state_dir)


def bigquery_ready(rest_port: int, grpc_port: int) -> bool:
    """True once bqemulator answers its own readiness probe and its gRPC port listens."""
    answer = http_get(f"http://{HOST}:{rest_port}/readyz")
    if answer is None or answer[0] != 200:
        return False
    try:
        checks = json.loads(answer[1]).get("checks", {})
    except (ValueError, AttributeError):
        return False  # something else that happens to answer /readyz
    return checks.get("duckdb") == "ok" and not port_is_free(grpc_port)


def bigquery_client(project: str, endpoint: str) -> bigquery.Client:
    """A client for the emulator at `endpoint` (e.g. "http://127.0.0.1:9050"), no credentials."""
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def seed_table(client: bigquery.Client, table_id: str, rows: Iterable[dict]) -> int:
    """Replace `table_id` ("project.dataset.table") with `rows`; returns the row count loaded."""
    table_ref = bigquery.TableReference.from_string(table_id, default_project=client.project)
    client.create_dataset(
        bigquery.DatasetReference(table_ref.project, table_ref.dataset_id), exists_ok=True
    )
    # Dropped first so a table left with an older schema cannot survive the reload.
    client.delete_table(table_ref, not_found_ok=True)
    # load_table_from_json fails on the emulator (it sends content type */*); a file load of
    # newline-delimited JSON with an explicit schema works and is fast.
    payload = io.BytesIO()
    for row in rows:
        payload.write(json.dumps(row, ensure_ascii=False).encode())
        payload.write(b"\n")
    if not payload.tell():
        # A zero-byte upload fails on the emulator (HTTP 308): an empty table is just created.
        client.create_table(bigquery.Table(table_ref, schema=SCHEMA))
        return 0
    payload.seek(0)
    job_config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        schema=SCHEMA,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
    )
    job = client.load_table_from_file(payload, table_ref, job_config=job_config, rewind=True)
    job.result()
    return client.get_table(table_ref).num_rows
