"""BigQuery source: one snapshot per run (a single scan of the source), batches read by batch id.

Why a snapshot: `LIMIT/OFFSET` without a stable order is non-deterministic and every page would
re-scan (and re-bill) the source. The snapshot numbers rows by id once, assigns `batch_id`, and is
clustered on it, so each batch reads only its own rows through the Storage Read API (no query job
per batch). Its name is derived from the flow run, so a retry of the same flow run reuses it and
every batch keeps exactly the same rows even if the source changed in between.
"""

from __future__ import annotations

import logging
from functools import cached_property

import grpc
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.cloud import bigquery, bigquery_storage_v1
from google.cloud.bigquery_storage_v1 import types as bqs_types
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport
from pydantic import BaseModel, Field

from themegen.config.gcp import credentials
from themegen.domain.models import BatchDescriptor, BatchPlan, SourceRow
from themegen.config.settings import Settings
from themegen.source import DoneEntry, SourceConfigError
from themegen.source.bigquery import done_record

SNAPSHOT_DAYS = 7
PLAINTEXT = "http://"  # scheme of a Storage Read endpoint without TLS (THEMEGEN_BQ_STORAGE_ENDPOINT)


CHECK_TIMEOUT_S = 60
GONE_EXAMPLES = 5  # ids of rows that left the source, shown in the report
log = logging.getLogger(__name__)


# Rows whose id is NULL or empty go to this batch id: counted and reported, never read or sent.
NO_ID_BATCH = -1
# The snapshot's description carries its batch layout (and the rows the done record found settled), so a
# retry of the run (which reuses the snapshot) cuts the same batches even if the source has gained rows since.
LAYOUT_TAG = "themegen-layout:"


def batch_layout(rows: int, batch_size: int, max_batches: int) -> tuple[int, int]:
    """(batch count, rows per batch) for `rows` rows (pure): batches of `batch_size`, grown so a run
    never has more than `max_batches` task runs (each costs the Prefect server tens of ms)."""
    size = max(batch_size, -(-rows // max_batches))
    return max(1, -(-rows // size)), size


def sql_string(text: str) -> str:
    """`text` as a BigQuery string literal (pure): the layout's example ids come from the source."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


class Layout(BaseModel):
    """How a snapshot was cut, and what the done record left out of it (kept in its description)."""

    batches: int
    size: int
    done: int = 0
    failed: dict[str, int] = Field(default_factory=dict)
    examples: dict[str, str] = Field(default_factory=dict)


def snapshot_sql(settings: Settings, snapshot_table: str, layout: Layout, sharded: bool = False,
                 limited: bool = False, with_record: bool = False) -> str:
    """CTAS of the run's rows that have work, each with its batch id and source hash (pure).

    Which rows: done_record.judged_sql (the filter, the shard, rows_limit, one row per id, and with
    the done record only rows that are new, changed or unfinished). No global sort: a row's batch is
    a fingerprint of its id modulo the batch count, so batches are deterministic, about equal in
    size, and the table is clustered on them (a batch read, and a batch_ids rerun, read only their
    own blocks through the Storage Read API). Duplicate ids are kept once (the first by text) and
    counted in `dup_count`; rows without an id (NULL or empty) land in batch NO_ID_BATCH, never read
    or sent; `sharded` keeps shard @shard of @shard_count (a different fingerprint of the id, so
    shards are disjoint and each still spreads over every batch); `limited` keeps the first
    @row_limit rows by id (a trial run: a top-N, not a sort of the table). The user's filter (one
    boolean expression, filter.py) sits in its own parentheses, ANDed with ours. The snapshot stores
    the id, the text columns and their hash only: 7 days of them cost less than re-scanning the
    source for every batch.
    """
    text_names = ", ".join(f"text_{i}" for i in range(len(settings.bq.text_columns)))
    return f"""
CREATE TABLE IF NOT EXISTS `{snapshot_table}`
CLUSTER BY batch_id
OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {SNAPSHOT_DAYS * 24} HOUR),
         description = {sql_string(f"themegen run snapshot of {settings.source_table}; {LAYOUT_TAG}{layout.model_dump_json()}")})
AS
{done_record.judged_sql(settings, sharded, limited, with_record)}
SELECT IF(no_id, {NO_ID_BATCH}, ABS(MOD(FARM_FINGERPRINT(CONCAT('batch/', source_id)), {layout.batches}))) AS batch_id,
       source_id, dup_count, source_hash, {text_names}
FROM judged WHERE verdict = 'todo'
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
        stratify = [("THEMEGEN_QUALITY_STRATIFY", s.stratify_column)] if s.stratify_column and s.quality_sample_rows else []
        for setting, col in [("THEMEGEN_BQ_ID_COLUMN", s.bq.id_column)] + [
            ("THEMEGEN_BQ_TEXT_COLUMNS", c) for c in s.bq.text_columns
        ] + stratify:
            if col not in columns:
                raise SourceConfigError(
                    f"column {col!r} not in {s.source_table} (columns: {sorted(columns)}): fix {setting}"
                )

    def plan(self, run_key: str, batch_size: int, row_limit: int | None = None, shard: int | None = None,
             shard_count: int = 1, max_batches: int = 2_000, use_record: bool = True) -> BatchPlan:
        """Snapshot the rows with work (shard `shard` of `shard_count` when shard is set) and describe its
        batches. A retry of the same run (same run_key) reuses the snapshot and its layout. Rows the done
        record finds settled are counted, not copied; with nothing to do there is no snapshot at all."""
        if shard is not None and not 0 <= shard < shard_count:
            raise ValueError(f"shard={shard} is outside 0..{shard_count - 1} (shard_count={shard_count})")
        self.check_source()
        s, sharded = self.settings, shard is not None
        snapshot = f"{s.staging_dataset}.themegen_snapshot_{run_key}"
        scope = self._scope(shard, shard_count)
        with_record = use_record and self._record_ready()
        params = scope + (done_record.generation_params(s) if with_record else [])
        if row_limit is not None:
            params.append(bigquery.ScalarQueryParameter("row_limit", "INT64", row_limit))
        plan = BatchPlan(snapshot_table=snapshot, rows_total=0, batches=[], batch_size=batch_size)
        layout = self._layout(snapshot)
        exists = layout is not None
        if layout is None:
            judged = done_record.judged_sql(s, sharded, row_limit is not None, with_record)
            count = self._query(done_record.counts_sql(judged), params)
            found = next(iter(count.result()))
            plan.bytes_processed = count.total_bytes_processed or 0
            batch_count, size = batch_layout(found["todo"], batch_size, max_batches)
            failed = {r: found[f"failed_{r}"] for r in done_record.FAILED_REASONS if found[f"failed_{r}"]}
            layout = Layout(batches=batch_count, size=size, done=found["done"], failed=failed,
                            examples={r: found[f"example_{r}"] for r in failed})
            if exists := bool(found["todo"] or found["no_id"]):
                job = self._query(snapshot_sql(s, snapshot, layout, sharded=sharded, limited=row_limit is not None,
                                               with_record=with_record), params)
                job.result()
                plan.bytes_processed += job.total_bytes_processed or 0
        plan.batch_size, plan.rows_done_earlier = layout.size, layout.done
        plan.failed_earlier, plan.failed_earlier_examples = layout.failed, layout.examples
        plan.full_layout = not (layout.done or layout.failed)
        if exists:
            self._read_batches(plan)
        if with_record:
            gone = list(self._query(done_record.gone_sql(s, sharded, GONE_EXAMPLES),
                                    scope + done_record.params_named(s, "sink")).result())
            plan.rows_gone, plan.gone_examples = (gone[0]["n"] if gone else 0), [r["source_id"] for r in gone]
        return plan

    def _read_batches(self, plan: BatchPlan) -> None:
        """The snapshot's batches (id, rows, first and last id), duplicate ids and rows without an id."""
        snapshot = plan.snapshot_table
        plan.duplicate_ids = [r["source_id"] for r in self.client.query(
            f"SELECT source_id FROM `{snapshot}` WHERE dup_count > 1 AND batch_id != {NO_ID_BATCH} "
            "ORDER BY source_id LIMIT 1000"
        ).result()]
        summary = self.client.query(
            f"SELECT batch_id, COUNT(*) AS n, MIN(source_id) AS lo, MAX(source_id) AS hi "
            f"FROM `{snapshot}` GROUP BY batch_id ORDER BY batch_id"
        ).result()
        for r in summary:
            if r["batch_id"] == NO_ID_BATCH:
                plan.rows_without_id = r["n"]
            else:
                plan.batches.append(BatchDescriptor(batch_id=r["batch_id"], snapshot_table=snapshot,
                                                    row_count=r["n"], first_id=r["lo"], last_id=r["hi"]))
        plan.rows_total = sum(b.row_count for b in plan.batches)

    def _query(self, sql: str, params: list) -> bigquery.QueryJob:
        return self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))

    @staticmethod
    def _scope(shard: int | None, shard_count: int) -> list[bigquery.ScalarQueryParameter]:
        if shard is None:
            return []
        return [bigquery.ScalarQueryParameter("shard", "INT64", shard),
                bigquery.ScalarQueryParameter("shard_count", "INT64", shard_count)]

    def _record_ready(self) -> bool:
        """Whether the plan can use the done record (it is on, and its table exists or was just made)."""
        if not self.settings.bq.done_record:
            return False
        try:
            done_record.ensure_table(self.client, self.settings)
        except gexc.GoogleAPIError as exc:
            log.warning("the done record %s cannot be used (%s): every row is read and checked against the sink",
                        done_record.record_table(self.settings), exc)
            return False
        return True

    def _layout(self, snapshot: str) -> Layout | None:
        """The layout of an existing snapshot, from its description; None if there is none."""
        try:
            description = self.client.get_table(snapshot).description or ""
        except gexc.NotFound:
            return None
        return Layout.model_validate_json(description.partition(LAYOUT_TAG)[2])

    def record(self, entries: list[DoneEntry]) -> None:
        if self.settings.bq.done_record and entries:
            done_record.append(self.client, self.settings, entries)

    def gone_ids(self, shard: int | None = None, shard_count: int = 1) -> list[str]:
        sql = done_record.gone_sql(self.settings, shard is not None, None)
        params = self._scope(shard, shard_count) + done_record.params_named(self.settings, "sink")
        return [r["source_id"] for r in self._query(sql, params).result()]

    def done_sample(self, size: int) -> dict[str, str]:
        """Up to `size` rows the record says are done (a different few each call): id -> input hash."""
        if not self._record_ready():
            return {}
        params = done_record.params_named(self.settings, "sink", "model", "prompt_version", "prompt_fingerprint",
                                          "max_input_chars") + [bigquery.ScalarQueryParameter("sample", "INT64", size)]
        return {r["source_id"]: r["input_hash"] for r in self._query(done_record.sample_sql(self.settings), params).result()}

    @cached_property
    def _read_client(self) -> bigquery_storage_v1.BigQueryReadClient:
        """One Storage Read client (one gRPC channel) for every batch of the run; close() closes it."""
        return storage_read_client(self.settings)

    def count_rows(self) -> int:
        """Distinct ids a run would process (one query over the id and filter columns)."""
        return next(iter(self.client.query(count_sql(self.settings)).result()))["n"]

    def column_values(self, column: str, ids: list[str]) -> dict[str, str | None]:
        """One query over the id and this column (not the snapshot, which holds the texts only)."""
        id_col = self.settings.bq.id_column
        sql = (f"SELECT CAST({id_col} AS STRING) AS source_id, CAST({column} AS STRING) AS value "
               f"FROM `{self.settings.source_table}` WHERE CAST({id_col} AS STRING) IN UNNEST(@ids)")
        rows = self._query(sql, [bigquery.ArrayQueryParameter("ids", "STRING", ids)]).result()
        return {r["source_id"]: r["value"] for r in rows}

    def read_batch(self, batch: BatchDescriptor) -> list[SourceRow]:
        """Read one batch's rows from the snapshot (Storage Read API, filtered on batch_id)."""
        project, dataset, table = batch.snapshot_table.split(".")
        n_texts = len(self.settings.bq.text_columns)
        fields = ["source_id", "source_hash", *(f"text_{i}" for i in range(n_texts))]
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
            SourceRow(id=sid, text=combine_text([columns[f"text_{i}"][k] for i in range(n_texts)]),
                      source_hash=columns["source_hash"][k])
            for k, sid in enumerate(columns["source_id"])
        ]
        return sorted(rows, key=lambda r: r.id)

    def close(self) -> None:
        if "_read_client" in self.__dict__:
            self._read_client.transport.close()
