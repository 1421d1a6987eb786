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

from themegen.config.gcp import credentials
from themegen.domain.models import BatchDescriptor, BatchPlan, SourceRow
from themegen.config.settings import Settings
from themegen.source import SourceConfigError

SNAPSHOT_DAYS = 7
PLAINTEXT = "http://"  # scheme of a Storage Read endpoint without TLS (THEMEGEN_BQ_STORAGE_ENDPOINT)


CHECK_TIMEOUT_S = 60


# Rows whose id is NULL or empty go to this batch id: counted and reported, never read or sent.
NO_ID_BATCH = -1
# The snapshot's description carries its batch layout, so a retry of the run (which reuses the
# snapshot) cuts the same batches even if the source has gained rows since.
LAYOUT_TAG = "themegen-layout:"


def batch_layout(rows: int, batch_size: int, max_batches: int) -> tuple[int, int]:
    """(batch count, rows per batch) for `rows` rows (pure): batches of `batch_size`, grown so a run
    never has more than `max_batches` task runs (each costs the Prefect server tens of ms)."""
    size = max(batch_size, -(-rows // max_batches))
    return max(1, -(-rows // size)), size


def snapshot_sql(settings: Settings, snapshot_table: str, batch_count: int, batch_size: int,
                 sharded: bool = False, limited: bool = False) -> str:
    """CTAS of the run's rows, each with its batch id (pure).

    No global sort: a row's batch is a fingerprint of its id modulo the batch count, so batches are
    deterministic, about equal in size, and the table is clustered on them (a batch read, and a
    batch_ids rerun, read only their own blocks through the Storage Read API). Duplicate ids are
    kept once (the first by text) and counted in `dup_count`; rows without an id (NULL or empty)
    land in batch NO_ID_BATCH, never read or sent; `sharded` keeps shard @shard of @shard_count (a
    different fingerprint of the id, so shards are disjoint and each still spreads over every
    batch); `limited` keeps the first @row_limit rows by id (a trial run: a top-N, not a sort of the
    table). The user's filter (one boolean expression, themegen/source/bigquery/filter.py) sits in its own
    parentheses, ANDed with ours. The snapshot stores the id and the text columns only: the batch
    reads need them, and 7 days of them cost less than re-scanning the source for every batch.
    """
    id_col, columns = settings.bq.id_column, settings.bq.text_columns
    texts = ", ".join(f"CAST({c} AS STRING) AS text_{i}" for i, c in enumerate(columns))
    text_names = ", ".join(f"text_{i}" for i in range(len(columns)))
    no_id = f"({id_col} IS NULL OR TRIM(CAST({id_col} AS STRING)) = '')"
    conditions = [f"({settings.bq.where})" if settings.bq.where else "TRUE"]
    if sharded:
        # MOD before ABS: ABS of the smallest INT64 fingerprint would overflow.
        conditions.append(f"ABS(MOD(FARM_FINGERPRINT(CAST({id_col} AS STRING)), @shard_count)) = @shard")
    if limited:
        conditions.append(f"NOT {no_id}")
    return f"""
CREATE TABLE IF NOT EXISTS `{snapshot_table}`
CLUSTER BY batch_id
OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {SNAPSHOT_DAYS * 24} HOUR),
         description = "themegen run snapshot of {settings.source_table}; {LAYOUT_TAG}{batch_count}x{batch_size}")
AS
SELECT IF(no_id, {NO_ID_BATCH}, ABS(MOD(FARM_FINGERPRINT(CONCAT('batch/', source_id)), {batch_count}))) AS batch_id,
       source_id, dup_count, {text_names}
FROM (
  SELECT {no_id} AS no_id, {id_col} AS sort_key, CAST({id_col} AS STRING) AS source_id, {texts},
         COUNT(*) OVER (PARTITION BY {id_col}) AS dup_count
  FROM `{settings.source_table}`
  WHERE {" AND ".join(conditions)}
  QUALIFY ROW_NUMBER() OVER (PARTITION BY {id_col} ORDER BY {", ".join(columns)}) = 1 OR {no_id}
  {"ORDER BY sort_key LIMIT @row_limit" if limited else ""}
)
"""


def count_sql(settings: Settings, sharded: bool = False) -> str:
    """Distinct ids the snapshot will hold (pure): it sizes the batches. Scans the id and filter columns."""
    id_col = settings.bq.id_column
    conditions = [f"({settings.bq.where})" if settings.bq.where else "TRUE"]
    if sharded:
        conditions.append(f"ABS(MOD(FARM_FINGERPRINT(CAST({id_col} AS STRING)), @shard_count)) = @shard")
    return f"SELECT COUNT(DISTINCT {id_col}) AS n FROM `{settings.source_table}` WHERE {' AND '.join(conditions)}"


def combine_text(parts: list[str | None]) -> str | None:
    """Join the row's text columns; None when every column is NULL (pure)."""
    present = [p for p in parts if p is not None]
    return "\n".join(present) if present else None


def bigquery_client(s: Settings) -> bigquery.Client:
    """The REST client of the settings' BigQuery (the source, and the batch tier's staging tables)."""
    options = ClientOptions(api_endpoint=s.bq.api_endpoint) if s.bq.api_endpoint else None
    return bigquery.Client(project=s.gcp_project, credentials=credentials(s), client_options=options,
                           location=s.bq.location)


def storage_read_client(s: Settings) -> bigquery_storage_v1.BigQueryReadClient:
    """A Storage Read client (one gRPC channel) of the settings' BigQuery."""
    endpoint = s.bq.storage_endpoint
    if endpoint and endpoint.startswith(PLAINTEXT):
        # The endpoint itself says it speaks plaintext gRPC (as BIGQUERY_EMULATOR_HOST's http:// does).
        channel = grpc.insecure_channel(endpoint.removeprefix(PLAINTEXT))
        return bigquery_storage_v1.BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    return bigquery_storage_v1.BigQueryReadClient(credentials=credentials(s), client_options=options)


class BigQuerySource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def client(self) -> bigquery.Client:
        """Built on first use: every batch task makes a source just to read its rows through the
        Storage Read client, and a REST client per batch would look up credentials for nothing."""
        return bigquery_client(self.settings)

    def check_source(self) -> None:
        """Fail before any LLM call when the table or a column is missing, naming the setting."""
        s = self.settings
        try:
            # Retried for a minute, not the client's default ten: an endpoint that does not answer is
            # more often a wrong setting (or a stopped local stack) than an outage.
            table = self.client.get_table(s.source_table, retry=bigquery.DEFAULT_RETRY.with_timeout(CHECK_TIMEOUT_S))
        except gexc.NotFound:
            raise SourceConfigError(
                f"BigQuery table {s.source_table} not found: check THEMEGEN_BQ_DATASET / THEMEGEN_BQ_TABLE "
                "(and THEMEGEN_BQ_PROJECT)"
            ) from None
        except gexc.RetryError as exc:
            raise SourceConfigError(
                f"BigQuery at {s.bq.api_endpoint or 'its Google endpoint'} did not answer (retried up to {CHECK_TIMEOUT_S} s, "
                f"{type(exc.cause).__name__}): check THEMEGEN_BQ_API_ENDPOINT and the network (the local stack: "
                "`themegen stack up`)"
            ) from None
        columns = {f.name for f in table.schema}
        for setting, col in [("THEMEGEN_BQ_ID_COLUMN", s.bq.id_column)] + [
            ("THEMEGEN_BQ_TEXT_COLUMNS", c) for c in s.bq.text_columns
        ]:
            if col not in columns:
                raise SourceConfigError(
                    f"column {col!r} not in {s.source_table} (columns: {sorted(columns)}): fix {setting}"
                )

    def plan(self, run_key: str, batch_size: int, row_limit: int | None = None,
             shard: int | None = None, shard_count: int = 1, max_batches: int = 2_000) -> BatchPlan:
        """Snapshot the source once (shard `shard` of `shard_count` when shard is set) and describe its
        batches. A retry of the same run (same run_key) reuses the snapshot and its layout."""
        if shard is not None and not 0 <= shard < shard_count:
            raise ValueError(f"shard={shard} is outside 0..{shard_count - 1} (shard_count={shard_count})")
        self.check_source()
        snapshot = f"{self.settings.staging_dataset}.themegen_snapshot_{run_key}"
        params = []
        if shard is not None:
            params += [bigquery.ScalarQueryParameter("shard", "INT64", shard),
                       bigquery.ScalarQueryParameter("shard_count", "INT64", shard_count)]
        scanned = 0
        layout = self._layout(snapshot)
        if layout is None:
            count = self.client.query(count_sql(self.settings, sharded=shard is not None),
                                      job_config=bigquery.QueryJobConfig(query_parameters=params))
            rows = next(iter(count.result()))["n"]
            layout = batch_layout(rows if row_limit is None else min(rows, row_limit), batch_size, max_batches)
            if row_limit is not None:
                params.append(bigquery.ScalarQueryParameter("row_limit", "INT64", row_limit))
            job = self.client.query(
                snapshot_sql(self.settings, snapshot, *layout, sharded=shard is not None, limited=row_limit is not None),
                job_config=bigquery.QueryJobConfig(query_parameters=params),
            )
            job.result()
            scanned = (count.total_bytes_processed or 0) + (job.total_bytes_processed or 0)
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
            batch_size=layout[1],
            bytes_processed=scanned,
            duplicate_ids=duplicates,
            rows_without_id=without_id,
        )

    def _layout(self, snapshot: str) -> tuple[int, int] | None:
        """(batch count, batch size) of an existing snapshot, from its description; None if there is none."""
        try:
            description = self.client.get_table(snapshot).description or ""
        except gexc.NotFound:
            return None
        count, _, size = description.partition(LAYOUT_TAG)[2].partition("x")
        return int(count), int(size)

    @cached_property
    def _read_client(self) -> bigquery_storage_v1.BigQueryReadClient:
        """One Storage Read client (one gRPC channel) for every batch of the run; close() closes it."""
        return storage_read_client(self.settings)

    def count_rows(self) -> int:
        """Distinct ids a run would process (one query over the id and filter columns)."""
        return next(iter(self.client.query(count_sql(self.settings)).result()))["n"]

    def read_batch(self, batch: BatchDescriptor) -> list[SourceRow]:
        """Read one batch's rows from the snapshot (Storage Read API, filtered on batch_id)."""
        project, dataset, table = batch.snapshot_table.split(".")
        n_texts = len(self.settings.bq.text_columns)
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
