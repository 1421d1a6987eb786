"""Vertex AI batch prediction jobs of the Gemini simulator, driven by the real google-genai client
with `vertexai=True`, their request and output tables in a real BigQuery emulator."""

import asyncio
import io
import json

import google.oauth2.credentials
import pytest
from google import genai
from google.cloud import bigquery
from google.genai import errors, types

from local_stack.bigquery import bigquery_client, bigquery_ready, start_bigquery
from local_stack.processes import free_port, stop_process, wait_until
from tests.local_stack.test_gemini_sim import JSON_THEMES, MODEL, ask, configure, stats
from tests.local_stack.test_gemini_sim_batch import TEXTS, finished, themes_of

PROJECT, DATASET = "vertex-local", "jobs"
# A column of another type than request: it is not sent to the model but comes back with the answer.
INPUT_SCHEMA = [bigquery.SchemaField("key", "STRING"), bigquery.SchemaField("note", "STRING"),
                bigquery.SchemaField("request", "JSON")]


@pytest.fixture(scope="module")
def bigquery_endpoint(tmp_path_factory):
    """The BigQuery emulator alone (the Vertex jobs' tables), on free ports."""
    state, rest, grpc = tmp_path_factory.mktemp("bq"), free_port(), free_port()
    start_bigquery(state, PROJECT, rest, grpc)
    try:
        wait_until(lambda: bigquery_ready(rest, grpc), 60, "BigQuery emulator")
        yield f"http://127.0.0.1:{rest}"
    finally:
        stop_process(state, "bigquery")


@pytest.fixture
async def vertex(sim, bigquery_endpoint):
    await configure(sim, bigquery_endpoint=bigquery_endpoint)
    client = genai.Client(vertexai=True, project=PROJECT, location="asia-northeast1",
                          credentials=google.oauth2.credentials.Credentials(token="local"),  # no token is checked
                          http_options=types.HttpOptions(base_url=sim[0]))
    yield client
    await client.aio.aclose()


def request_table(endpoint: str, name: str, texts: list[str]) -> str:
    """A request table: one GenerateContentRequest (as JSON) per text, keyed, with a pass-through note."""
    client = bigquery_client(PROJECT, endpoint)
    client.create_dataset(f"{PROJECT}.{DATASET}", exists_ok=True)
    schema = {"responseMimeType": "application/json", "responseSchema": {
        "type": "OBJECT", "properties": {"themes": {"type": "ARRAY", "items": {"type": "STRING"}}}}}
    lines = "".join(json.dumps({"key": f"k{n}", "note": f"note {n}", "request": {
        "contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": schema}}) + "\n"
        for n, text in enumerate(texts))
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", schema=INPUT_SCHEMA,
                                    write_disposition="WRITE_TRUNCATE")
    table = f"{PROJECT}.{DATASET}.{name}"
    client.load_table_from_file(io.BytesIO(lines.encode()), table, job_config=config).result()
    return table


def output_rows(endpoint: str, table: str) -> dict[str, dict]:
    return {row["key"]: dict(row.items()) for row in bigquery_client(PROJECT, endpoint).list_rows(table)}


async def test_a_job_answers_its_request_table_into_an_output_table_keyed_by_the_input_columns(
        sim, vertex, bigquery_endpoint):
    await configure(sim, batch_turnaround_s=0.4)
    source = request_table(bigquery_endpoint, "answered", TEXTS)
    job = await vertex.aio.batches.create(model=MODEL, src=f"bq://{source}",
                                          config={"dest": f"bq://{source}_out", "display_name": "themes"})
    assert job.name.startswith(f"projects/{PROJECT}/locations/asia-northeast1/batchPredictionJobs/")
    assert job.state == types.JobState.JOB_STATE_PENDING and job.src.bigquery_uri == f"bq://{source}"

    job, seen = await finished(vertex, job.name)

    assert seen == ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (len(TEXTS), 0)
    assert job.dest.bigquery_uri == f"bq://{source}_out" and job.display_name == "themes"
    rows = output_rows(bigquery_endpoint, f"{source}_out")
    assert sorted(rows) == sorted(f"k{n}" for n in range(len(TEXTS)))
    for n, text in enumerate(TEXTS):  # the online answer, the input's columns passed through
        row = rows[f"k{n}"]
        assert row["note"] == f"note {n}" and row["status"] == "" and row["processed_time"] is not None
        assert themes_of(row["response"]) == themes_of(await ask(vertex, text, JSON_THEMES))
    counted = (await stats(sim))["batch"]
    assert counted["jobs_created"] == 1 and counted["requests"] == counted["ok"] == len(TEXTS)
    assert [j.name async for j in await vertex.aio.batches.list()] == [job.name]


async def test_failed_requests_carry_their_status_and_missing_ones_have_no_row(sim, vertex, bigquery_endpoint):
    await configure(sim, batch_turnaround_s=0.2, batch_failure_rate=0.25, batch_missing_rate=0.15, seed=3)
    texts = [f"{text} ({n})" for n in range(4) for text in TEXTS]
    source = request_table(bigquery_endpoint, "partial", texts)
    job = await vertex.aio.batches.create(model=MODEL, src=f"bq://{source}", config={"dest": f"bq://{source}_out"})

    job, _ = await finished(vertex, job.name)

    rows = output_rows(bigquery_endpoint, f"{source}_out")
    failed = {key for key, row in rows.items() if row["status"]}
    counted = (await stats(sim))["batch"]
    assert failed and all(rows[key]["response"] is None for key in failed)
    assert len(failed) == counted["failed"] == job.completion_stats.failed_count
    assert len(rows) == len(texts) - counted["missing"] and counted["missing"] > 0


async def test_cancel_stops_a_job_and_bad_jobs_are_refused_with_the_reason(sim, vertex, bigquery_endpoint):
    await configure(sim, batch_turnaround_s=30)
    source = request_table(bigquery_endpoint, "cancelled", TEXTS[:2])
    job = await vertex.aio.batches.create(model=MODEL, src=f"bq://{source}", config={"dest": f"bq://{source}_out"})
    await vertex.aio.batches.cancel(name=job.name)
    job = await vertex.aio.batches.get(name=job.name)
    assert job.state == types.JobState.JOB_STATE_CANCELLED and (await stats(sim))["batch"]["jobs_cancelled"] == 1
    async with sim[1].get("/v1beta/batches") as listed:  # not a Gemini API job
        assert (await listed.json())["operations"] == []

    with pytest.raises(errors.ClientError, match=f"{PROJECT}.{DATASET}.nowhere.*not found") as missing:
        await vertex.aio.batches.create(model=MODEL, src=f"bq://{PROJECT}.{DATASET}.nowhere",
                                        config={"dest": f"bq://{source}_out"})
    assert missing.value.code == 400
    with pytest.raises(errors.ClientError) as unknown:
        await vertex.aio.batches.get(name=job.name.rsplit("/", 1)[0] + "/123")
    assert unknown.value.code == 404
    await configure(sim, bigquery_endpoint=None)
    with pytest.raises(errors.ClientError, match="bigquery_endpoint"):
        await vertex.aio.batches.create(model=MODEL, src=f"bq://{source}", config={"dest": f"bq://{source}_out"})


@pytest.mark.parametrize("outcome", ["failed", "expired"])
async def test_jobs_can_end_failed_or_expired_without_an_output_table(sim, vertex, bigquery_endpoint, outcome):
    await configure(sim, batch_turnaround_s=0.1, batch_outcome=outcome)
    source = request_table(bigquery_endpoint, f"ends_{outcome}", TEXTS[:2])
    job = await vertex.aio.batches.create(model=MODEL, src=f"bq://{source}", config={"dest": f"bq://{source}_out"})
    job, _ = await finished(vertex, job.name)
    assert job.state.name == f"JOB_STATE_{outcome.upper()}" and job.error.message
    tables = [t.table_id for t in bigquery_client(PROJECT, bigquery_endpoint).list_tables(f"{PROJECT}.{DATASET}")]
    assert f"ends_{outcome}_out" not in tables


async def test_a_partially_succeeded_job_keeps_its_output_table(sim, vertex, bigquery_endpoint):
    await configure(sim, batch_turnaround_s=0.1, batch_outcome="partially_succeeded", batch_failure_rate=0.5, seed=1)
    source = request_table(bigquery_endpoint, "partly", TEXTS)
    job = await vertex.aio.batches.create(model=MODEL, src=f"bq://{source}", config={"dest": f"bq://{source}_out"})
    for _ in range(400):  # google-genai's `done` leaves this state out: the pipeline checks states itself
        job = await vertex.aio.batches.get(name=job.name)
        if job.state not in (types.JobState.JOB_STATE_PENDING, types.JobState.JOB_STATE_RUNNING):
            break
        await asyncio.sleep(0.02)
    assert job.state == types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED and job.completion_stats.failed_count > 0
    rows = output_rows(bigquery_endpoint, f"{source}_out")
    assert len(rows) == len(TEXTS) and sum(bool(row["status"]) for row in rows.values()) == job.completion_stats.failed_count


async def test_a_job_over_the_request_limit_is_a_400_and_one_beyond_the_concurrent_jobs_a_429(
        sim, vertex, bigquery_endpoint):
    await configure(sim, batch_turnaround_s=0.5, vertex_batch_max_requests=2, vertex_batch_max_concurrent_jobs=1)
    too_many = request_table(bigquery_endpoint, "too_many", TEXTS[:3])
    with pytest.raises(errors.ClientError) as refused:
        await vertex.aio.batches.create(model=MODEL, src=f"bq://{too_many}", config={"dest": f"bq://{too_many}_out"})
    assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT") and "at most 2" in refused.value.message
    fits = request_table(bigquery_endpoint, "fits", TEXTS[:2])
    first = await vertex.aio.batches.create(model=MODEL, src=f"bq://{fits}", config={"dest": f"bq://{fits}_out"})
    with pytest.raises(errors.ClientError) as no_room:
        await vertex.aio.batches.create(model=MODEL, src=f"bq://{fits}", config={"dest": f"bq://{fits}_out2"})
    assert (no_room.value.code, no_room.value.status) == (429, "RESOURCE_EXHAUSTED")
    await finished(vertex, first.name)
    counted = (await stats(sim))["batch"]
    assert counted["jobs_created"] == 1 and (counted["refused_400"], counted["refused_429"]) == (1, 1)
    assert counted["largest_job_requests"] == 2 and counted["largest_job_bytes"] > 0
