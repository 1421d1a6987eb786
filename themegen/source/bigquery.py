"""BigQuery source: one snapshot per run (a single scan of the source), batches read by batch id.

Why a snapshot: `LIMIT/OFFSET` without a stable order is non-deterministic and every page would
re-scan (and re-bill) the source. The snapshot numbers rows by id once, assigns `batch_id`, and is
clustered on it, so each batch reads only its own rows through the Storage Read API (no query job
per batch). Its name is derived from the flow run, so a retry of the same flow run reuses it and
every batch keeps exactly the same rows even if the source changed in between.
"""

from __future__ import annotations

from functools import cached_property

import grpc
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import bigquery, bigquery_storage_v1
from google.cloud.bigquery_storage_v1 import types as bqs_types
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

from themegen.gcp import credentials
from themegen.models import BatchDescriptor, BatchPlan, SourceRow
from themegen.settings import Settings

SNAPSHOT_DAYS = 7
PLAINTEXT = "http://"  # scheme of a Storage Read endpoint without TLS (THEMEGEN_BQ_STORAGE_ENDPOINT)


class SourceConfigError(RuntimeError):
    """The source table/columns in settings do not match BigQuery; the message names the setting."""


# Rows whose id is NULL or empty go to this batch id: counted and reported, never read or sent.
NO_ID_BATCH = -1


def snapshot_sql(settings: Settings, snapshot_table: str, sharded: bool = False) -> str:
    """CTAS that numbers the filtered source rows by id and assigns batch ids (pure).

    Duplicate ids are kept once (the first by text) and counted in `dup_count`, so the report can
    name them; rows without an id (NULL or empty) land in batch NO_ID_BATCH, so they neither collapse
    into one "duplicate" nor shift the other batches; `sharded` keeps only shard @shard of @shard_count (by a hash of the id, so
    shards are disjoint, cover every row and stay the same across runs). @row_limit applies after
    sharding: the first N rows by id of this shard. The user's filter (validated as one boolean
    expression, themegen/source/filter.py) sits in its own parentheses, ANDed with ours.
    """
    id_col, columns = settings.bq_id_column, settings.bq_text_columns
    texts = ", ".join(f"CAST({c} AS STRING) AS text_{i}" for i, c in enumerate(columns))
    text_names = ", ".join(f"text_{i}" for i in range(len(columns)))
    conditions = [f"({settings.bq_where})" if settings.bq_where else "TRUE"]
    if sharded:
        # MOD before ABS: ABS of the smallest INT64 fingerprint would overflow.
        conditions.append(f"ABS(MOD(FARM_FINGERPRINT(CAST({id_col} AS STRING)), @shard_count)) = @shard")
    no_id = f"({id_col} IS NULL OR TRIM(CAST({id_col} AS STRING)) = '')"
    return f"""
CREATE TABLE IF NOT EXISTS `{snapshot_table}`
CLUSTER BY batch_id
OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {SNAPSHOT_DAYS * 24} HOUR),
         description = "themegen run snapshot of {settings.source_table}")
AS
SELECT IF(no_id, {NO_ID_BATCH}, CAST(FLOOR((rn - 1) / @batch_size) AS INT64)) AS batch_id,
       source_id, dup_count, {text_names}
FROM (
  SELECT ROW_NUMBER() OVER (PARTITION BY no_id ORDER BY sort_key, {text_names}) AS rn,
         no_id, source_id, dup_count, {text_names}
  FROM (
    SELECT {id_col} AS sort_key, {no_id} AS no_id, CAST({id_col} AS STRING) AS source_id, {texts},
           ROW_NUMBER() OVER (PARTITION BY {id_col} ORDER BY {", ".join(columns)}) AS dup_rank,
           COUNT(*) OVER (PARTITION BY {id_col}) AS dup_count
    FROM `{settings.source_table}`
    WHERE {" AND ".join(conditions)}
  )
  WHERE dup_rank = 1 OR no_id
)
WHERE rn <= @row_limit OR no_id
"""


def combine_text(parts: list[str | None]) -> str | None:
    """Join the row's text columns; None when every column is NULL (pure)."""
    present = [p for p in parts if p is not None]
    return "\n".join(present) if present else None


class BigQuerySource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> bigquery.Client:
        """Built on first use: every batch task makes a source just to read its rows through the
        Storage Read client, and a REST client per batch would look up credentials for nothing."""
        s = self.settings
        options = ClientOptions(api_endpoint=s.bq_api_endpoint) if s.bq_api_endpoint else None
        return bigquery.Client(
            project=s.gcp_project, credentials=credentials(s), client_options=options, location=s.bq_location
        )

    def check_source(self) -> None:
        """Fail before any LLM call when the table or a column is missing, naming the setting."""
        s = self.settings
        try:
            table = self.client.get_table(s.source_table)
        except gexc.NotFound:
            raise SourceConfigError(
                f"BigQuery table {s.source_table} not found: check THEMEGEN_BQ_DATASET / THEMEGEN_BQ_TABLE "
                "(and THEMEGEN_BQ_PROJECT)"
            ) from None
        columns = {f.name for f in table.schema}
        for setting, col in [("THEMEGEN_BQ_ID_COLUMN", s.bq_id_column)] + [
            ("THEMEGEN_BQ_TEXT_COLUMNS", c) for c in s.bq_text_columns
        ]:
            if col not in columns:
                raise SourceConfigError(
                    f"column {col!r} not in {s.source_table} (columns: {sorted(columns)}): fix {setting}"
                )

    def plan(self, run_key: str, batch_size: int, row_limit: int | None = None,
             shard: int | None = None, shard_count: int = 1) -> BatchPlan:
        """Snapshot the source once (shard `shard` of `shard_count` when shard is set) and describe its batches."""
        if shard is not None and not 0 <= shard < shard_count:
            raise ValueError(f"shard={shard} is outside 0..{shard_count - 1} (shard_count={shard_count})")
        self.check_source()
        snapshot = f"{self.settings.staging_dataset}.themegen_snapshot_{run_key}"
        params = [
            bigquery.ScalarQueryParameter("batch_size", "INT64", batch_size),
            bigquery.ScalarQueryParameter("row_limit", "INT64", 2**62 if row_limit is None else row_limit),
        ]
        if shard is not None:
            params += [bigquery.ScalarQueryParameter("shard", "INT64", shard),
                       bigquery.ScalarQueryParameter("shard_count", "INT64", shard_count)]
        job = self.client.query(
            snapshot_sql(self.settings, snapshot, sharded=shard is not None),
            job_config=bigquery.QueryJobConfig(query_parameters=params),
        )
        job.result()
        duplicates = [r["source_id"] for r in self.client.query(
            f"SELECT source_id FROM `{snapshot}` WHERE dup_count > 1 AND batch_id != {NO_ID_BATCH} "
            "ORDER BY source_id LIMIT 1000"
        ).result()]
        summary = self.client.query(
            f"SELECT batch_id, COUNT(*) AS n, MIN(source_id) AS lo, MAX(source_id) AS hi "
            f"FROM `{snapshot}` GROUP BY batch_id ORDER BY batch_id"
        ).result()
        batches, without_id = [], 0
        for r in summary:
            if r["batch_id"] == NO_ID_BATCH:
                without_id = r["n"]
            else:
                batches.append(BatchDescriptor(batch_id=r["batch_id"], snapshot_table=snapshot, row_count=r["n"],
                                               first_id=r["lo"], last_id=r["hi"]))
        return BatchPlan(
            snapshot_table=snapshot,
            rows_total=sum(b.row_count for b in batches),
            batches=batches,
            batch_size=batch_size,
            bytes_processed=job.total_bytes_processed or 0,
            duplicate_ids=duplicates,
            rows_without_id=without_id,
        )

    @cached_property
    def _read_client(self) -> bigquery_storage_v1.BigQueryReadClient:
        """One Storage Read client (one gRPC channel) for every batch of the run; close() closes it."""
        s, endpoint = self.settings, self.settings.bq_storage_endpoint
        if endpoint and endpoint.startswith(PLAINTEXT):
            # The endpoint itself says it speaks plaintext gRPC (as BIGQUERY_EMULATOR_HOST's http:// does).
            channel = grpc.insecure_channel(endpoint.removeprefix(PLAINTEXT))
            return bigquery_storage_v1.BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
        options = ClientOptions(api_endpoint=endpoint) if endpoint else None
        return bigquery_storage_v1.BigQueryReadClient(credentials=credentials(s), client_options=options)

    def read_batch(self, batch: BatchDescriptor) -> list[SourceRow]:
        """Read one batch's rows from the snapshot (Storage Read API, filtered on batch_id)."""
        project, dataset, table = batch.snapshot_table.split(".")
        n_texts = len(self.settings.bq_text_columns)
        fields = ["source_id", *(f"text_{i}" for i in range(n_texts))]
        client = self._read_client
        session = client.create_read_session(
            parent=f"projects/{self.settings.gcp_project}",
            read_session=bqs_types.ReadSession(
                table=f"projects/{project}/datasets/{dataset}/tables/{table}",
                data_format=bqs_types.DataFormat.ARROW,
                read_options=bqs_types.ReadSession.TableReadOptions(
                    selected_fields=fields, row_restriction=f"batch_id = {int(batch.batch_id)}"
                ),
            ),
            max_stream_count=1,
        )
        if not session.streams:  # an empty batch (e.g. rows deleted from a reused snapshot)
            return []
        columns = client.read_rows(session.streams[0].name).to_arrow(session).to_pydict()
        rows = [
            SourceRow(id=sid, text=combine_text([columns[f"text_{i}"][k] for i in range(n_texts)]))
            for k, sid in enumerate(columns["source_id"])
        ]
        return sorted(rows, key=lambda r: r.id)

    def close(self) -> None:
        if "_read_client" in self.__dict__:
            self._read_client.transport.close()
