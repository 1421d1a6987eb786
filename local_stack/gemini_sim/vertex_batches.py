"""Vertex AI batch prediction (`batchPredictionJobs`) as google-genai's `batches.create/get/cancel/
list/delete` call it with `vertexai=True`, for jobs whose input and output are BigQuery tables.

The input table (`bq://project.dataset.table`) is read from the BigQuery emulator (SimConfig
`bigquery_endpoint`) when the job is created: a `request` column (a GenerateContentRequest as JSON)
and any other columns, which pass through to the output. The job then runs exactly as a Gemini API
job (batches.py: turnaround, states, failure and missing rates, shuffle, outcome; every request
answered by generate.py as online), in Vertex AI's states (JOB_STATE_*) with `completionStats`,
and on success writes the destination table into the emulator: the input's columns, `status`
(empty, or the error of a failed request), `processed_time` and `response` (the
GenerateContentResponse as JSON). Requests left out by `batch_missing_rate` have no row there.
"""

import asyncio
import io
import json
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from local_stack.bigquery import bigquery_client

from . import job_limits, replies
from .batches import DONE, BatchJob, Item, camel, start_job
from .files import timestamp
from .job_routes import Platform, add_job_routes
from .state import SIMULATOR, Simulator

_OUTPUT_COLUMNS = [
    bigquery.SchemaField("status", "STRING"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
    bigquery.SchemaField("response", "JSON"),
]
_RESOURCE_FIELDS = ("name", "model", "inputConfig", "outputConfig")


def _table_id(config: Any, format_key: str, location_key: str, uri_key: str) -> str | None:
    """"project.dataset.table" of a {format: "bigquery", location: {uri: "bq://..."}} config."""
    if not isinstance(config, dict) or config.get(format_key) != "bigquery":
        return None
    uri = (config.get(location_key) or {}).get(uri_key)
    table = uri.removeprefix("bq://") if isinstance(uri, str) and uri.startswith("bq://") else ""
    return table if table.count(".") == 2 and all(table.split(".")) else None


def _read_input(endpoint: str, table_id: str) -> tuple[list[bigquery.SchemaField], list[Item], int] | str:
    """The input table's schema, one item per row (its columns echoed as metadata) and the rows' size
    as JSON lines, or what is wrong."""
    client = bigquery_client(table_id.split(".")[0], endpoint)
    try:
        table = client.get_table(table_id)
    except gexc.NotFound:
        return f"BigQuery table {table_id} (inputConfig.bigquerySource.inputUri) not found."
    if "request" not in {f.name for f in table.schema}:
        return f"BigQuery table {table_id} has no request column (a GenerateContentRequest as JSON)."
    items, size = [], 0
    for number, row in enumerate(client.list_rows(table), start=1):
        columns = dict(row.items())
        size += len(json.dumps(columns, ensure_ascii=False, default=str)) + 1
        request = columns["request"]
        try:
            request = json.loads(request) if isinstance(request, str) else request
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return f"{table_id} row {number}: request is not a GenerateContentRequest JSON object."
        items.append(Item(camel(request), metadata=columns))
    return table.schema, items, size


def _write_output(endpoint: str, table_id: str, schema: list[bigquery.SchemaField],
                  outputs: list[dict[str, Any]]) -> None:
    """The destination table, replaced: one row per output line (input columns, status, response)."""
    processed = timestamp(datetime.now(UTC))
    payload = io.BytesIO()
    for line in outputs:
        failed = "response" not in line
        row = {**line["metadata"], "status": line["error"]["message"] if failed else "",
               "processed_time": processed, "response": None if failed else line["response"]}
        payload.write((json.dumps(row, ensure_ascii=False, default=str) + "\n").encode())
    client = bigquery_client(table_id.split(".")[0], endpoint)
    project, dataset, _ = table_id.split(".")
    client.create_dataset(bigquery.DatasetReference(project, dataset), exists_ok=True)
    if not payload.tell():  # a zero-byte load fails on the emulator: the empty table is just created
        client.delete_table(table_id, not_found_ok=True)
        client.create_table(bigquery.Table(table_id, schema=schema + _OUTPUT_COLUMNS))
        return
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                                    schema=schema + _OUTPUT_COLUMNS,
                                    write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
    client.load_table_from_file(payload, table_id, job_config=config, rewind=True).result()


async def _deliver(endpoint: str, table_id: str, schema: list[bigquery.SchemaField],
                   sim: Simulator, job: BatchJob, outputs: list[dict[str, Any]]) -> None:
    await asyncio.to_thread(_write_output, endpoint, table_id, schema, outputs)
    project, dataset, table = table_id.split(".")
    job.output = {"bigqueryOutputDataset": f"bq://{project}.{dataset}", "bigqueryOutputTable": table}


def resource(job: BatchJob) -> dict[str, Any]:
    """The job as Vertex AI returns a BatchPredictionJob."""
    vertex = job.vertex or {}
    body: dict[str, Any] = {
        **{key: vertex[key] for key in _RESOURCE_FIELDS},
        "displayName": job.display_name,
        "state": job.state.replace("BATCH_STATE_", "JOB_STATE_"),
        "createTime": timestamp(job.created),
        "updateTime": timestamp(job.updated),
        "completionStats": {  # int64 fields: strings in JSON
            "successfulCount": str(job.succeeded),
            "failedCount": str(job.failed),
            "incompleteCount": str(len(job.items) - job.succeeded - job.failed),
        },
    }
    if job.state in DONE:
        body["endTime"] = timestamp(job.updated)
    if job.output is not None:
        body["outputInfo"] = job.output
    if job.error is not None:
        body["error"] = job.error
    return body


async def _create(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    body = await replies.checked_json(sim, request)
    if isinstance(body, web.Response):
        return body
    source = _table_id(body.get("inputConfig"), "instancesFormat", "bigquerySource", "inputUri")
    dest = _table_id(body.get("outputConfig"), "predictionsFormat", "bigqueryDestination", "outputUri")
    if source is None or dest is None:
        return replies.invalid_argument(
            sim, 'This simulator takes BigQuery jobs only: inputConfig {"instancesFormat": "bigquery", '
            '"bigquerySource": {"inputUri": "bq://p.d.t"}} and outputConfig {"predictionsFormat": "bigquery", '
            '"bigqueryDestination": {"outputUri": "bq://p.d.t"}}.')
    endpoint = sim.config.bigquery_endpoint
    if endpoint is None:
        return replies.error(sim, 400, "FAILED_PRECONDITION",
                             "The simulator has no BigQuery emulator to read jobs from: set its "
                             "bigquery_endpoint knob (--bigquery-endpoint; `stack up` sets it).")
    read = await asyncio.to_thread(_read_input, endpoint, source)
    if isinstance(read, str):
        return replies.invalid_argument(sim, read)
    schema, items, size = read
    if not items:
        return replies.invalid_argument(sim, f"BigQuery table {source} has no rows.")
    if (refused := job_limits.check_vertex(sim, items)) is not None:
        return refused
    project, location = request.match_info["project"], request.match_info["location"]
    job_id = str(uuid.uuid4().int)[:19]  # Vertex AI's job ids are numbers
    model = str(body.get("model") or "")
    job = BatchJob(job_id, model.rsplit("/", 1)[-1], str(body.get("displayName") or ""), items, from_file=False,
                   deliver=partial(_deliver, endpoint, dest, schema))
    job.vertex = {key: body.get(key) for key in _RESOURCE_FIELDS} | {
        "name": f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}"}
    start_job(sim, job, size)
    return replies.json_response(200, resource(job))


def add_routes(app: web.Application) -> None:
    jobs = f"/{replies.VERSION_PATH}/projects/{{project}}/locations/{{location}}/batchPredictionJobs"
    app.router.add_post(jobs, _create)
    add_job_routes(app, jobs, Platform(
        vertex=True, collection="batchPredictionJobs", list_field="batchPredictionJobs", render=resource,
        deleted=lambda job: {"name": (job.vertex or {})["name"], "done": True}))
