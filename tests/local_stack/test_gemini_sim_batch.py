"""Flex tier, batch jobs and the Files API of the Gemini simulator, driven by the real google-genai
async client the way the pipeline will call them (Gemini API backend, API key)."""

import asyncio
import base64
import hashlib
import io
import json
import time

import pytest
from google import genai
from google.genai import errors, types

from local_stack.gemini_sim import approx_tokens, derive_themes
from tests.local_stack.test_gemini_sim import JSON_THEMES, MODEL, TEXT, ask, configure, stats

FLEX = types.GenerateContentConfig(
    response_mime_type="application/json",
    response_schema=JSON_THEMES.response_schema,
    service_tier=types.ServiceTier.FLEX,
)
TEXTS = [
    f"Review {n}: the delivery of order {n} was late but support fixed refund {n} quickly."
    for n in range(12)
]
ITEMS_SCHEMA = {
    "type": "OBJECT",
    "properties": {"items": {"type": "ARRAY", "items": {"type": "OBJECT"}}},
}


def themes_of(response: dict | types.GenerateContentResponse) -> list:
    if isinstance(response, dict):
        return json.loads(response["candidates"][0]["content"]["parts"][0]["text"])["themes"]
    return json.loads(response.text)["themes"]


async def finished(client, name: str) -> tuple[types.BatchJob, list[str]]:
    """Poll the job until it is done; returns it and the states seen on the way."""
    seen = []
    for _ in range(400):
        job = await client.aio.batches.get(name=name)
        if not seen or seen[-1] != job.state.name:
            seen.append(job.state.name)
        if job.done:
            return job, seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} still {seen[-1]} after 8 s")


def inline(texts: list[str]) -> list[types.InlinedRequest]:
    return [
        types.InlinedRequest(contents=text, metadata={"key": f"row-{n}"}, config=JSON_THEMES)
        for n, text in enumerate(texts)
    ]


async def raw_job(sim, name: str) -> dict:
    async with sim[1].get(f"/v1beta/{name}") as response:
        return await response.json()


# --- Flex -------------------------------------------------------------------------------------


async def test_flex_is_the_body_service_tier_answered_slower_with_the_same_themes(sim, client):
    await configure(sim, latency_s=0.0, flex_latency_s=0.5)
    await ask(client)  # warm-up: the client's and the theme extractor's first-call costs
    started = time.monotonic()
    standard = await ask(client)
    standard_s = time.monotonic() - started
    started = time.monotonic()
    flex = await ask(client, config=FLEX)
    flex_s = time.monotonic() - started

    assert flex_s >= 0.5 and standard_s + 0.3 < flex_s
    assert themes_of(flex) == themes_of(standard) == derive_themes(TEXT)
    counted = await stats(sim)
    assert counted["requests"] == counted["ok"] == 3
    assert counted["flex"] == {"requests": 1, "ok": 1, "shed_429": 0, "shed_503": 0}


async def test_flex_sheds_its_configured_share_and_standard_none(sim, client):
    await configure(sim, flex_latency_s=0.0, flex_shed_rate_429=0.3, flex_shed_rate_503=0.2, seed=7)
    outcomes = {200: 0, 429: 0, 503: 0}
    for _ in range(200):
        try:
            await ask(client, config=FLEX)
            outcomes[200] += 1
        except errors.APIError as err:
            outcomes[err.code] += 1
            assert "details" not in err.details["error"]  # no QuotaFailure/RetryInfo: not a quota
    for _ in range(50):
        await ask(client)  # standard requests are never shed

    counted = await stats(sim)
    assert counted["flex"] == {
        "requests": 200,
        "ok": outcomes[200],
        "shed_429": outcomes[429],
        "shed_503": outcomes[503],
    }
    assert 35 <= outcomes[429] <= 85 and 15 <= outcomes[503] <= 60  # 60 and 28 expected
    assert counted["ok"] == outcomes[200] + 50


async def test_unknown_service_tier_is_rejected_and_vertex_flex_header_counts(sim):
    body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}], "serviceTier": "cheap"}
    async with sim[1].post(f"/v1beta/models/{MODEL}:generateContent", json=body) as response:
        assert response.status == 400
        assert "service_tier" in (await response.json())["error"]["message"]
    del body["serviceTier"]
    vertex = (
        f"/v1beta1/projects/p/locations/global/publishers/google/models/{MODEL}:generateContent"
    )
    headers = {"X-Vertex-AI-LLM-Shared-Request-Type": "flex", "Authorization": "Bearer t"}
    await configure(sim, flex_latency_s=0.0)
    async with sim[1].post(vertex, json=body, headers=headers) as response:
        assert response.status == 200
    assert (await stats(sim))["flex"]["ok"] == 1


# --- batch jobs -------------------------------------------------------------------------------


async def test_inline_job_runs_pending_running_succeeded_with_outputs_keyed_not_ordered(
    sim, client
):
    await configure(sim, batch_turnaround_s=0.4)
    job = await client.aio.batches.create(
        model=MODEL, src=inline(TEXTS), config={"display_name": "t"}
    )
    assert job.name.startswith("batches/") and job.state == types.JobState.JOB_STATE_PENDING
    job, seen = await finished(client, job.name)

    assert seen == ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    responses = job.dest.inlined_responses
    keys = [r.metadata["key"] for r in responses]
    assert sorted(keys) == sorted(f"row-{n}" for n in range(len(TEXTS)))
    assert keys != [f"row-{n}" for n in range(len(TEXTS))]  # shuffled: map by key
    for answer in responses:
        text = TEXTS[int(answer.metadata["key"].removeprefix("row-"))]
        assert themes_of(answer.response) == derive_themes(text)
        assert answer.response.usage_metadata.prompt_token_count == approx_tokens(text)
    counted = await stats(sim)
    assert counted["requests"] == 0  # nothing went through the online path
    batch = counted["batch"]
    assert (batch["jobs_created"], batch["requests"], batch["ok"]) == (1, len(TEXTS), len(TEXTS))
    assert batch["input_tokens"] == sum(approx_tokens(t) for t in TEXTS)
    assert (await raw_job(sim, job.name))["metadata"]["batchStats"] == {
        "requestCount": "12",
        "successfulRequestCount": "12",
        "failedRequestCount": "0",
        "pendingRequestCount": "0",
    }


async def test_file_job_reads_an_uploaded_jsonl_and_writes_a_keyed_result_file(sim, client):
    # api_key as the stack sets it: the upload's chunks must get through without one
    knobs = {"fail_ids": ["b2"], "fail_mode": "five_themes", "api_key": "test-key"}
    await configure(sim, batch_turnaround_s=0.2, **knobs)
    packed = {"rows": [{"id": "b1", "text": TEXTS[1]}, {"id": "b2", "text": TEXTS[2]}]}
    lines = [
        # snake_case field names, as in the Batch API guide's JSONL example
        {
            "key": "single",
            "request": {
                "contents": [{"parts": [{"text": TEXTS[0]}]}],
                "generation_config": {"response_mime_type": "application/json"},
            },
        },
        {
            "key": "packed",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": json.dumps(packed)}]}],
                "generationConfig": {"responseSchema": ITEMS_SCHEMA},
            },
        },
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    uploaded = await client.aio.files.upload(
        file=io.BytesIO(data), config={"mime_type": "application/jsonl", "display_name": "requests"}
    )
    assert uploaded.name.startswith("files/") and uploaded.size_bytes == len(data)
    assert (await client.aio.files.get(name=uploaded.name)).source == types.FileSource.UPLOADED

    job = await client.aio.batches.create(model=MODEL, src=uploaded.name)
    job, _ = await finished(client, job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.dest.file_name.startswith(
        "files/"
    )
    result = await client.aio.files.download(file=job.dest.file_name)
    by_key = {line["key"]: line for line in map(json.loads, result.decode().splitlines())}

    assert set(by_key) == {"single", "packed"}
    assert themes_of(by_key["single"]["response"]) == derive_themes(TEXTS[0])
    packed_text = by_key["packed"]["response"]["candidates"][0]["content"]["parts"][0]["text"]
    items = {item["id"]: item["themes"] for item in json.loads(packed_text)["items"]}
    assert items["b1"] == derive_themes(TEXTS[1])
    assert items["b2"] == derive_themes(TEXTS[2])[:5]  # fail_ids break batch answers as online ones
    assert (await stats(sim))["batch"]["invalid_outputs"] == 1


async def test_partial_failures_and_missing_outputs(sim, client):
    await configure(
        sim, batch_turnaround_s=0.2, batch_failure_rate=0.25, batch_missing_rate=0.1, seed=3
    )
    texts = [f"{TEXT} ({n})" for n in range(80)]
    job = await client.aio.batches.create(model=MODEL, src=inline(texts))
    job, _ = await finished(client, job.name)

    assert job.state == types.JobState.JOB_STATE_SUCCEEDED  # per-request errors do not fail the job
    failed = [r for r in job.dest.inlined_responses if r.error is not None]
    answered = [r for r in job.dest.inlined_responses if r.response is not None]
    batch = (await stats(sim))["batch"]
    assert (batch["failed"], batch["ok"]) == (len(failed), len(answered))
    assert batch["missing"] == len(texts) - len(job.dest.inlined_responses)
    assert 8 <= len(failed) <= 35 and 1 <= batch["missing"] <= 18  # 20 and 8 expected
    assert all(r.error.code == 13 and r.metadata["key"].startswith("row-") for r in failed)
    counts = (await raw_job(sim, job.name))["metadata"]["batchStats"]
    assert counts["failedRequestCount"] == str(len(failed))  # missing ones count as successful
    assert counts["successfulRequestCount"] == str(len(texts) - len(failed))


async def test_cancel_stops_a_running_job_before_it_answers(sim, client):
    await configure(sim, batch_turnaround_s=30)
    job = await client.aio.batches.create(model=MODEL, src=inline(TEXTS[:3]))
    await client.aio.batches.cancel(name=job.name)
    job = await client.aio.batches.get(name=job.name)

    assert job.state == types.JobState.JOB_STATE_CANCELLED and job.done and job.dest is None
    assert (await raw_job(sim, job.name))["error"]["code"] == 1
    batch = (await stats(sim))["batch"]
    assert (batch["jobs_created"], batch["jobs_cancelled"], batch["requests"]) == (1, 1, 0)


@pytest.mark.parametrize("outcome", ["failed", "expired"])
async def test_jobs_can_end_failed_or_expired_without_output(sim, client, outcome):
    await configure(sim, batch_turnaround_s=0.1, batch_outcome=outcome)
    job = await client.aio.batches.create(model=MODEL, src=inline(TEXTS[:2]))
    job, seen = await finished(client, job.name)
    assert job.state.name == f"JOB_STATE_{outcome.upper()}" and job.dest is None
    assert ("JOB_STATE_RUNNING" in seen) == (outcome == "failed")  # an expired job never ran


async def test_a_second_client_attaches_to_the_job_and_the_simulator_counts_one(sim, client):
    await configure(sim, batch_turnaround_s=0.3)
    job = await client.aio.batches.create(model=MODEL, src=inline(TEXTS[:2]))
    rerun = genai.Client(api_key="other-process", http_options=types.HttpOptions(base_url=sim[0]))
    try:
        attached, _ = await finished(rerun, job.name)
        listed = [j.name async for j in await rerun.aio.batches.list()]
    finally:
        await rerun.aio.aclose()
    assert attached.state == types.JobState.JOB_STATE_SUCCEEDED and listed == [job.name]
    assert (await stats(sim))["batch"]["jobs_created"] == 1

    await client.aio.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError) as missing:
        await client.aio.batches.get(name=job.name)
    assert missing.value.code == 404
    async with sim[1].post("/_sim/reset") as response:
        assert (await response.json())["batch"]["jobs_created"] == 0


async def test_bad_batch_input_is_refused_with_the_reason(sim, client):
    await configure(sim, batch_inline_max_bytes=2000)
    with pytest.raises(errors.ClientError, match="exceeds the limit: 2000 bytes"):
        await client.aio.batches.create(model=MODEL, src=inline(TEXTS))
    with pytest.raises(errors.ClientError, match="files/nothere"):
        await client.aio.batches.create(model=MODEL, src="files/nothere")
    uploaded = await client.aio.files.upload(
        file=io.BytesIO(b'{"key": "a", "request": {"contents": []}}\nnot json\n'),
        config={"mime_type": "application/jsonl"},
    )
    with pytest.raises(errors.ClientError, match="line 2 is not JSON"):
        await client.aio.batches.create(model=MODEL, src=uploaded.name)
    assert (await stats(sim))["batch"]["jobs_created"] == 0


async def test_an_upload_larger_than_one_chunk_arrives_whole(client):
    data = b'{"key": "k", "request": {"contents": [{"parts": [{"text": "x"}]}]}}\n' * 130_000
    assert len(data) > 8 * 1024 * 1024  # google-genai sends 8 MiB per chunk
    uploaded = await client.aio.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
    stored = await client.aio.files.get(name=uploaded.name)
    assert stored.size_bytes == len(data)
    assert stored.sha256_hash == base64.b64encode(hashlib.sha256(data).digest()).decode()


# --- Per-job and per-project limits -------------------------------------------------------------


async def upload_requests(client, texts: list[str]) -> str:
    lines = [{"key": f"k{n}", "request": {"contents": [{"parts": [{"text": text}]}]}} for n, text in enumerate(texts)]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    uploaded = await client.aio.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
    return uploaded.name


def refusal(error: errors.APIError) -> tuple[int, str]:
    return error.code, error.status


async def test_a_job_over_the_request_or_file_limit_is_refused_400_and_never_created(sim, client):
    await configure(sim, batch_max_requests=3, batch_turnaround_s=0.2)
    with pytest.raises(errors.ClientError) as too_many:
        await client.aio.batches.create(model=MODEL, src=await upload_requests(client, TEXTS[:4]))
    assert refusal(too_many.value) == (400, "INVALID_ARGUMENT") and "at most 3" in too_many.value.message
    job = await client.aio.batches.create(model=MODEL, src=await upload_requests(client, TEXTS[:3]))

    await configure(sim, batch_max_file_bytes=100)
    with pytest.raises(errors.ClientError) as too_big:  # the Files API refuses the upload itself
        await upload_requests(client, TEXTS[:1])
    assert refusal(too_big.value) == (400, "INVALID_ARGUMENT") and "limit is 100 bytes" in too_big.value.message

    counted = (await stats(sim))["batch"]
    assert counted["jobs_created"] == 1 and counted["refused_400"] == 2
    assert counted["largest_job_requests"] == 3 and counted["largest_job_bytes"] > 0
    await finished(client, job.name)


async def test_no_room_for_another_job_is_a_429_until_one_ends(sim, client):
    await configure(sim, batch_max_concurrent_jobs=2, batch_turnaround_s=0.5)
    first = await client.aio.batches.create(model=MODEL, src=await upload_requests(client, TEXTS[:1]))
    await client.aio.batches.create(model=MODEL, src=await upload_requests(client, TEXTS[1:2]))
    third = await upload_requests(client, TEXTS[2:3])
    with pytest.raises(errors.ClientError) as no_room:
        await client.aio.batches.create(model=MODEL, src=third)
    assert refusal(no_room.value) == (429, "RESOURCE_EXHAUSTED") and "concurrent" in no_room.value.message
    await finished(client, first.name)
    await client.aio.batches.create(model=MODEL, src=third)  # room again once a job ended

    counted = (await stats(sim))["batch"]
    assert counted["jobs_created"] == 3 and counted["refused_429"] == 1 and counted["most_jobs_at_once"] == 2
    assert counted["last_job_ended_at"]


async def test_enqueued_tokens_over_the_limit_are_a_429(sim, client):
    tokens = approx_tokens(TEXTS[0])
    await configure(sim, batch_max_enqueued_tokens=3 * tokens, batch_turnaround_s=0.5)
    await client.aio.batches.create(model=MODEL, src=await upload_requests(client, TEXTS[:2]))
    with pytest.raises(errors.ClientError) as no_room:
        await client.aio.batches.create(model=MODEL, src=await upload_requests(client, TEXTS[2:4]))
    assert refusal(no_room.value) == (429, "RESOURCE_EXHAUSTED") and "Enqueued tokens" in no_room.value.message
    await client.aio.batches.create(model=MODEL, src=await upload_requests(client, TEXTS[4:5]))  # fits
