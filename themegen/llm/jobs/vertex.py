"""Vertex AI's batch prediction jobs through google-genai, reading and writing BigQuery tables.

Vertex AI takes no uploaded file: a job reads a BigQuery table with a `request` column (the
GenerateContentRequest as JSON) and writes a table holding the input's columns plus `status` and
`response`. So the run's JSONL (requests.py, the same lines the Gemini API path uploads) is loaded
into a table in the staging dataset with a BigQuery load job from the local file (one job, no
streaming-insert quota or row-size limits, and the emulator loads files too), columns `key` and
`request`; the job writes its output table next to it, and the output is read back through the
Storage Read API, page by page, into a local file of {"key", "response" | "error"} lines, mapped by
`key` (carried through by Vertex AI), never by position.

The input table's name comes from the job record's key (a hash of the requests), so a resubmission
reloads the same table; every job writes a table of its own (Vertex AI does not overwrite one).
The staging dataset must be in the job's region (THEMEGEN_GEMINI_LOCATION), as Vertex AI requires.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.api_core import exceptions as gexc
from google.cloud import bigquery
from google.cloud.bigquery_storage_v1 import types as bqs_types
from google.genai import types

from themegen.llm.gemini.client import make_client
from themegen.llm.jobs.requests import JobFile
from themegen.llm.jobs.service import JobFailed, get_job, newest_named
from themegen.config.settings import Settings
from themegen.source.bigquery.client import SNAPSHOT_DAYS, bigquery_client, storage_read_client

INPUT_SCHEMA = [bigquery.SchemaField("key", "STRING", mode="REQUIRED"),
                bigquery.SchemaField("request", "JSON", mode="REQUIRED")]


def input_table(settings: Settings, record_key: str) -> str:
    """"project.dataset.table" of a job's requests, named from its record key (the requests' hash)."""
    digest = record_key.rsplit("/", 1)[-1].removesuffix(".json")
    return f"{settings.staging_dataset}.themegen_batch_{digest[:32]}"


def output_line(key: str, status: str | None, response: str | dict | None) -> str:
    """One output row as the line results.py reads: a response, or the row's status as an error."""
    if response is not None and not status:
        return json.dumps({"key": key, "response": json.loads(response) if isinstance(response, str) else response})
    return json.dumps({"key": key, "error": {"message": status or "no response"}})


class VertexJobs:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = make_client(settings)

    def _load(self, job_file: JobFile, table_id: str) -> None:
        client = bigquery_client(self.settings)
        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                                        schema=INPUT_SCHEMA,
                                        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
        with job_file.path.open("rb") as lines:
            client.load_table_from_file(lines, table_id, job_config=config).result()
        self._expire(client, table_id)

    def _expire(self, client: bigquery.Client, table_id: str) -> None:
        """Staging tables live as long as the run's snapshot."""
        table = client.get_table(table_id)
        table.expires = datetime.now(UTC) + timedelta(days=SNAPSHOT_DAYS)
        client.update_table(table, ["expires"])

    async def stage(self, job_file: JobFile, display_name: str) -> str:
        """Load the requests into their BigQuery table."""
        source = input_table(self.settings, job_file.record_key)
        await asyncio.to_thread(self._load, job_file, source)
        return source

    async def create(self, source: str, display_name: str) -> types.BatchJob:
        """A job reading the staged table and writing a table of its own."""
        dest = f"{source}_out_{datetime.now(UTC):%Y%m%d%H%M%S%f}"
        return await self.client.aio.batches.create(
            model=self.settings.model, src=f"bq://{source}", config={"display_name": display_name, "dest": f"bq://{dest}"})

    async def get(self, name: str) -> types.BatchJob | None:
        return await get_job(self.client, name)

    async def cancel(self, name: str) -> None:
        await self.client.aio.batches.cancel(name=name)

    async def find(self, display_name: str) -> types.BatchJob | None:
        # Vertex AI lists every batch prediction job of the location: its filter keeps the page short.
        return await newest_named(self.client, display_name,
                                  {"page_size": 100, "filter": f'display_name="{display_name}"'})

    def _read(self, table_id: str, into: Path) -> None:
        """The output table's rows as output lines in a local file, page by page (Storage Read API)."""
        project, dataset, table = table_id.split(".")
        reader = storage_read_client(self.settings)
        try:
            session = reader.create_read_session(
                parent=f"projects/{self.settings.gcp_project}",
                read_session=bqs_types.ReadSession(
                    table=f"projects/{project}/datasets/{dataset}/tables/{table}",
                    data_format=bqs_types.DataFormat.ARROW,
                    read_options=bqs_types.ReadSession.TableReadOptions(selected_fields=["key", "status", "response"]),
                ),
                max_stream_count=1,
            )
            with into.open("w", encoding="utf-8") as out:
                for stream in session.streams:  # none: no row answered at all
                    for page in reader.read_rows(stream.name).rows(session).pages:
                        for row in page.to_arrow().to_pylist():
                            out.write(output_line(row["key"], row["status"], row["response"]) + "\n")
        finally:
            reader.transport.close()
        self._expire(bigquery_client(self.settings), table_id)

    async def output(self, job: types.BatchJob, into: Path) -> None:
        uri = job.dest.bigquery_uri if job.dest is not None else None
        if not uri or not uri.startswith("bq://"):
            raise JobFailed(f"batch job {job.name} succeeded without a BigQuery output table; retry the flow run")
        try:
            await asyncio.to_thread(self._read, uri.removeprefix("bq://"), into)
        except gexc.NotFound:
            raise JobFailed(f"batch job {job.name} succeeded but its output table {uri} is gone; "
                                 "retry the flow run to submit a new job") from None

    async def stats(self, name: str) -> dict[str, int]:
        job = await self.get(name)
        counts = job.completion_stats if job is not None else None
        if counts is None:
            return {}
        done, failed = counts.successful_count or 0, counts.failed_count or 0
        return {"requestCount": done + failed + max(0, counts.incomplete_count or 0),
                "successfulRequestCount": done, "failedRequestCount": failed}

    async def error(self, name: str) -> str | None:
        job = await self.get(name)
        return job.error.message if job is not None and job.error is not None else None
