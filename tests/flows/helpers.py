"""Shared test helpers: the sample rows as BigQuery holds them, and which rows form which batch."""

from __future__ import annotations

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery


def source_rows(stack) -> dict[str, str | None]:
    client = bigquery.Client(
        project=stack.config.project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=stack.env["THEMEGEN_BQ_API_ENDPOINT"]),
    )
    table = f"{stack.config.project}.{stack.config.dataset}.{stack.config.table}"
    return {r["id"]: r["text"] for r in client.query(f"SELECT id, text FROM `{table}`").result()}


def is_empty(text: str | None) -> bool:
    return text is None or not text.strip()


def batch_rows(rows: dict[str, str | None], batch_size: int, batch_id: int) -> list[str]:
    """Ids of one batch: batches are consecutive runs of the ids in sorted order."""
    ids = sorted(rows)
    return ids[batch_id * batch_size : (batch_id + 1) * batch_size]


def nonempty(rows: dict[str, str | None], ids: list[str]) -> list[str]:
    return [i for i in ids if not is_empty(rows[i])]


def theme_ids(stack) -> set[str]:
    return {r[0] for r in stack.read_table("SELECT t.SourceId FROM Themes AS t")}
