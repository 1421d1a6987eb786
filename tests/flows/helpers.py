"""Shared test helpers: the sample rows as BigQuery holds them, and which rows form which batch."""

from __future__ import annotations

from collections import Counter

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from themegen.domain.prompt import prepare_text
from themegen.config.settings import Settings
from themegen.source.bigquery.client import BigQuerySource


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


def batch_rows(batch_size: int, batch_id: int, rows_limit: int | None = None) -> list[str]:
    """Ids of one batch as a run with these parameters cuts them (a fingerprint of the id decides)."""
    source = BigQuerySource(Settings())
    # as a run with no done record cuts them (a run after this one leaves its done rows out)
    plan = source.plan(f"helper_{source.settings.bq.table}_{batch_size}_{rows_limit}", batch_size, rows_limit,
                       use_record=False)
    [batch] = [b for b in plan.batches if b.batch_id == batch_id]
    return sorted(r.id for r in source.read_batch(batch))


def nonempty(rows: dict[str, str | None], ids: list[str]) -> list[str]:
    return [i for i in ids if not is_empty(rows[i])]


def texts_of(rows: dict[str, str | None], ids) -> set[str]:
    """The distinct prepared texts of these (sendable) rows."""
    return {prepare_text(rows[i], 10**9) for i in ids}


def distinct_texts(rows: dict[str, str | None], ids) -> int:
    """Requests a run sends for these (sendable) rows: one per distinct prepared text, since
    identical texts are paid once (the sample data repeats a few)."""
    return len(texts_of(rows, ids))


def own_texts(rows: dict[str, str | None], ids) -> set[str]:
    """The ids whose text no other of `ids` has: a fault injected by id hits them alone."""
    counts = Counter(prepare_text(rows[i], 10**9) for i in ids)
    return {i for i in ids if counts[prepare_text(rows[i], 10**9)] == 1}


def assert_rows_add_up(summary) -> None:
    """Every row of the run is in exactly one category of the summary (README, "What happened to each row")."""
    parts = ("rows_already_done", "rows_from_cache", "rows_from_same_text", "rows_answered", "rows_answered_by_batch",
             "rows_failed")
    counts = {part: getattr(summary, part) for part in parts}
    assert sum(counts.values()) == summary.rows_total, (counts, summary.rows_total)


def theme_ids(stack) -> set[str]:
    return {r[0] for r in stack.read_table("SELECT t.SourceId FROM Themes AS t")}
