"""The done record: BigQuery's copy of what the sink holds, so the snapshot selects only rows with work.

Why a table beside the source: finding the 0.1% of rows that changed by reading every row from
BigQuery and every key from the sink costs a nightly run what exists, not what changed (issue 21).
With the record, one query joins the source to it and the snapshot holds only rows that are new,
changed, failed-and-retryable or never answered.

Written by each batch right after its sink write succeeded (not at the end of the run): a run that
stops half way (a per-day quota, a kill) has recorded what it wrote, and nothing that lives for the
whole run grows with its rows. Rows are appended with the streaming API (tabledata.insertAll): no
DML statement per batch (BigQuery queues concurrent DML on a table), no load-job quota. The record
is an append-only log; a row's latest entry (per sink) is what the sink holds for it now.

The sink stays the truth: every batch still asks the sink for the rows it gets, and writes back an
entry for each of them (done, failed or open). A missing or stale entry therefore costs a row a trip
through a batch, never a wrong skip: the record says "done" only after the sink took the write.
What the record cannot see is a sink changed behind its back (emptied, restored, rows deleted by
hand). The entries carry the sink's identity (another database is another record), each plan checks
a sample of the rows the record calls done against the sink and ignores the whole record when one is
missing (`sampled`), and THEMEGEN_BQ_DONE_RECORD=false ignores it for a run: such a run reads every
row, checks each against the sink and rewrites its entry.

The source hash is computed in SQL when the snapshot is made and carried to the batches with the row,
so the record stores the very value the next snapshot query compares: the two cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from google.cloud import bigquery
from pydantic import SecretStr

from themegen.domain.generation import Generation
from themegen.domain.models import PERMANENT, Reason
from themegen.source import DoneEntry

if TYPE_CHECKING:
    from themegen.config.settings import Settings

# A row's latest entry says the sink holds: themes, a failure a rerun does not fix (`reason`: declined,
# invalid answer, bad input), nothing yet (open), or that the row left the source (gone).
THEMES, FAILED, OPEN, GONE = "themes", "failed", "open", "gone"
FAILED_REASONS = sorted(r.value for r in PERMANENT | {Reason.INPUT})
# Rows appended per streaming request (the API takes up to 50,000 rows and 10 MB).
INSERT_CHUNK = 5_000

SCHEMA = [
    bigquery.SchemaField("source_id", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("source_hash", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("status", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("input_hash", "STRING"),
    bigquery.SchemaField("reason", "STRING"),
    bigquery.SchemaField("model", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("prompt_version", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("prompt_fingerprint", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("max_input_chars", "INT64", mode="REQUIRED"),
    bigquery.SchemaField("sink", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("recorded_at", "TIMESTAMP", mode="REQUIRED"),
]


def record_table(settings: Settings) -> str:
    return f"{settings.staging_dataset}.{settings.bq.done_table}"


def sink_identity(settings: Settings) -> str:
    """Which sink the entries describe (pure): its kind and the names of its database and tables, not
    its endpoint, so an entry never speaks for another database's rows."""
    block = settings.sink_settings.model_dump()
    names = {k: v for k, v in sorted(block.items())
             if isinstance(v, str) and not any(w in k for w in ("endpoint", "host", "port", "password", "dsn", "url"))}
    if isinstance(dsn := block.get("dsn"), SecretStr):  # a connection string: its database, never its password
        found = re.search(r"dbname=(\S+)", dsn.get_secret_value()) or re.search(r"://[^/]*/([^?\s]+)",
                                                                                 dsn.get_secret_value())
        names["database"] = found[1] if found else ""
    return f"{settings.sink}:" + hashlib.sha256(json.dumps(names, sort_keys=True).encode()).hexdigest()[:16]


def source_hash_sql(n_texts: int) -> str:
    """A row's text columns hashed, NULL told apart from '' and column borders kept (each part is its
    length, ':' and the text), as standard BigQuery SQL that the emulator also runs."""
    parts = ", ".join(f"IFNULL(CAST(LENGTH(text_{i}) AS STRING), 'N'), ':', IFNULL(text_{i}, ''), ';'"
                      for i in range(n_texts))
    return f"TO_HEX(SHA256(CONCAT({parts})))"


def judged_sql(settings: Settings, sharded: bool, limited: bool, with_record: bool) -> str:
    """`WITH ... judged AS (...)`: the run's source rows (filter, shard, rows_limit, one per id), each with
    its source hash and a verdict: 'todo', 'done' (the sink holds themes for this text, model and
    prompt) or 'failed' (a permanent or input failure for this text, not sent again without
    retry_failed). Without the record every row is 'todo' (pure)."""
    id_col, columns = settings.bq.id_column, settings.bq.text_columns
    texts = ", ".join(f"CAST({c} AS STRING) AS text_{i}" for i, c in enumerate(columns))
    no_id = f"({id_col} IS NULL OR TRIM(CAST({id_col} AS STRING)) = '')"
    conditions = [f"({settings.bq.where})" if settings.bq.where else "TRUE"]
    if sharded:
        # MOD before ABS: ABS of the smallest INT64 fingerprint would overflow.
        conditions.append(f"ABS(MOD(FARM_FINGERPRINT(CAST({id_col} AS STRING)), @shard_count)) = @shard")
    if limited:
        conditions.append(f"NOT {no_id}")
    source = f"""source_rows AS (
  SELECT {no_id} AS no_id, {id_col} AS sort_key, CAST({id_col} AS STRING) AS source_id, {texts},
         COUNT(*) OVER (PARTITION BY {id_col}) AS dup_count
  FROM `{settings.source_table}`
  WHERE {" AND ".join(conditions)}
  QUALIFY ROW_NUMBER() OVER (PARTITION BY {id_col} ORDER BY {", ".join(columns)}) = 1 OR {no_id}
  {"ORDER BY sort_key LIMIT @row_limit" if limited else ""}
),
hashed AS (SELECT *, {source_hash_sql(len(columns))} AS source_hash FROM source_rows)"""
    if not with_record:
        return f"WITH {source},\njudged AS (SELECT *, CAST(NULL AS STRING) AS earlier_reason, 'todo' AS verdict FROM hashed)"
    same = ("COALESCE(l.source_hash = h.source_hash AND l.model = @model AND l.prompt_version = @prompt_version "
            "AND l.prompt_fingerprint = @prompt_fingerprint AND l.max_input_chars = @max_input_chars, FALSE)")
    return f"""WITH {source},
latest AS (
  SELECT source_id, source_hash, status, reason, model, prompt_version, prompt_fingerprint, max_input_chars
  FROM `{record_table(settings)}` WHERE sink = @sink
  QUALIFY ROW_NUMBER() OVER (PARTITION BY source_id ORDER BY recorded_at DESC) = 1
),
judged AS (
  SELECT h.*, l.reason AS earlier_reason, CASE
    WHEN h.no_id OR NOT {same} THEN 'todo'
    WHEN l.status = '{THEMES}' THEN 'done'
    WHEN l.status = '{FAILED}' AND NOT @retry_failed THEN 'failed'
    ELSE 'todo' END AS verdict
  FROM hashed h LEFT JOIN latest l ON l.source_id = h.source_id
)"""


def counts_sql(judged: str) -> str:
    """Rows to theme (with an id), done, without an id, and failed earlier by reason with one example id each (pure)."""
    failed = ", ".join(f"COUNTIF(verdict = 'failed' AND earlier_reason = '{r}') AS failed_{r}, "
                       f"MIN(IF(verdict = 'failed' AND earlier_reason = '{r}', source_id, NULL)) AS example_{r}"
                       for r in FAILED_REASONS)
    return (f"{judged}\nSELECT COUNTIF(verdict = 'todo' AND NOT no_id) AS todo, COUNTIF(verdict = 'done') AS done, "
            f"COUNTIF(no_id) AS no_id, {failed} FROM judged")


def gone_sql(settings: Settings, sharded: bool, limit: int | None) -> str:
    """Rows the sink holds (by the record) whose id is no longer in the source table at all, filter or
    not: their count on every row and the first `limit` ids (pure)."""
    id_col = settings.bq.id_column
    shard = " AND ABS(MOD(FARM_FINGERPRINT(l.source_id), @shard_count)) = @shard" if sharded else ""
    return f"""WITH latest AS (
  SELECT source_id, status FROM `{record_table(settings)}` WHERE sink = @sink
  QUALIFY ROW_NUMBER() OVER (PARTITION BY source_id ORDER BY recorded_at DESC) = 1
), ids AS (SELECT DISTINCT CAST({id_col} AS STRING) AS source_id FROM `{settings.source_table}`)
SELECT l.source_id, COUNT(*) OVER () AS n
FROM latest l LEFT JOIN ids s ON s.source_id = l.source_id
WHERE s.source_id IS NULL AND l.status IN ('{THEMES}', '{FAILED}'){shard}
ORDER BY l.source_id{f" LIMIT {int(limit)}" if limit is not None else ""}"""


def sample_sql(settings: Settings) -> str:
    """Up to @sample rows the record says hold this generation's themes, a different few each run (RAND():
    a fingerprint per row cost the emulator 6 s at 30,000 rows), with the input hash the sink should hold
    for them (pure)."""
    return f"""WITH latest AS (
  SELECT * FROM `{record_table(settings)}` WHERE sink = @sink
  QUALIFY ROW_NUMBER() OVER (PARTITION BY source_id ORDER BY recorded_at DESC) = 1
)
SELECT source_id, input_hash FROM latest
WHERE status = '{THEMES}' AND model = @model AND prompt_version = @prompt_version
  AND prompt_fingerprint = @prompt_fingerprint AND max_input_chars = @max_input_chars
ORDER BY RAND() LIMIT @sample"""


def generation_params(settings: Settings) -> list[bigquery.ScalarQueryParameter]:
    g = Generation.of(settings)
    return [
        bigquery.ScalarQueryParameter("sink", "STRING", sink_identity(settings)),
        bigquery.ScalarQueryParameter("model", "STRING", g.model),
        bigquery.ScalarQueryParameter("prompt_version", "STRING", g.prompt_version),
        bigquery.ScalarQueryParameter("prompt_fingerprint", "STRING", g.fingerprint),
        bigquery.ScalarQueryParameter("max_input_chars", "INT64", settings.max_input_chars),
        bigquery.ScalarQueryParameter("retry_failed", "BOOL", settings.retry_failed),
    ]


def params_named(settings: Settings, *names: str) -> list[bigquery.ScalarQueryParameter]:
    """The generation parameters a query uses, and no other (the emulator refuses unused ones)."""
    return [p for p in generation_params(settings) if p.name in names]


def ensure_table(client: bigquery.Client, settings: Settings) -> None:
    table = bigquery.Table(record_table(settings), schema=SCHEMA)
    table.clustering_fields = ["source_id"]
    table.description = "themegen: what the sink holds per row (latest entry per source_id and sink wins)"
    client.create_table(table, exists_ok=True)


def entry_rows(settings: Settings, entries: list[DoneEntry]) -> list[dict]:
    """The streaming rows of `entries`, stamped with the run's generation, sink and the time (pure but the clock)."""
    g, sink = Generation.of(settings), sink_identity(settings)
    now = datetime.now(timezone.utc).isoformat()
    return [{"source_id": e.source_id, "source_hash": e.source_hash, "status": e.status, "input_hash": e.input_hash,
             "reason": e.reason,
             "model": g.model, "prompt_version": g.prompt_version, "prompt_fingerprint": g.fingerprint,
             "max_input_chars": settings.max_input_chars, "sink": sink, "recorded_at": now} for e in entries]


def append(client: bigquery.Client, settings: Settings, entries: list[DoneEntry]) -> None:
    """Append entries (streaming inserts, no insert ids: a repeated entry is harmless, the latest wins)."""
    rows = entry_rows(settings, entries)
    for i in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[i:i + INSERT_CHUNK]
        errors = client.insert_rows_json(record_table(settings), chunk, row_ids=[None] * len(chunk))
        if errors:
            raise RuntimeError(f"the done record {record_table(settings)} refused {len(errors)} entries: {errors[:2]}")
