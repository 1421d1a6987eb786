"""The stack's Cloud Storage part (local_stack/gcs.py) on a free port: the emulator, its token
endpoint for offline credentials, the bucket, and operations counted from its own log."""

from __future__ import annotations

import pytest
from google.auth.transport.requests import Request

from local_stack import gcs
from local_stack.processes import free_port, http_get, log_path, port_is_free, stop_process, wait_until
from local_stack.stack import StackConfig, _parts, stack_env

PROJECT = "themegen-local"


@pytest.fixture(scope="module")
def part(tmp_path_factory):
    state_dir, port = tmp_path_factory.mktemp("gcs-part"), free_port()
    pid = gcs.start_gcs(state_dir, port)
    try:
        wait_until(lambda: gcs.gcs_ready(state_dir, port), 30, gcs.LABEL, log_path(state_dir, gcs.NAME), pid)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", gcs.gcs_env(port)["STORAGE_EMULATOR_HOST"])
            yield state_dir, port
    finally:
        stop_process(state_dir, gcs.NAME)


def test_the_part_is_started_and_its_settings_written_only_when_it_has_a_port(tmp_path):
    without = StackConfig(state_dir=tmp_path, start_prefect=False)
    assert gcs.NAME not in {p.name for p in _parts(without)}
    assert not {"STORAGE_EMULATOR_HOST", "THEMEGEN_CACHE_BLOCK"} & set(stack_env(without))
    config = StackConfig(state_dir=tmp_path, start_prefect=False, gcs_port=9081)
    assert gcs.NAME in {p.name for p in _parts(config)}
    assert stack_env(config)["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:9081"
    assert stack_env(config)["THEMEGEN_CACHE_BLOCK"] == "gcs-bucket/themegen-cache"
    with pytest.raises(ValueError, match="ports must differ"):
        StackConfig(state_dir=tmp_path, gcs_port=9010)


def test_offline_credentials_get_their_token_from_the_part(part):
    state_dir, _ = part
    credentials = gcs.credentials_block(PROJECT, gcs.token_uri(state_dir)).get_credentials_from_service_account()
    credentials.refresh(Request())
    assert credentials.token == "local-emulator-token"


def test_the_bucket_is_made_once_kept_and_emptied_on_reset_and_requests_are_counted(part):
    state_dir, port = part
    assert gcs.prepare(state_dir, port, PROJECT, None, reset=False) == f"bucket {gcs.BUCKET} created"
    client = gcs.credentials_block(PROJECT, gcs.token_uri(state_dir)).get_cloud_storage_client()
    bucket = client.bucket(gcs.BUCKET)
    mark = gcs.log_offset(state_dir)
    bucket.blob("segments/a.jsonl").upload_from_string(b"line\n")
    assert [b.name for b in client.list_blobs(bucket, prefix="segments/")] == ["segments/a.jsonl"]
    assert bucket.blob("segments/a.jsonl").download_as_bytes() == b"line\n"
    counted = gcs.operations(state_dir, mark)
    assert (counted["insert"], counted["list"], counted["get"]) == (1, 1, 1)
    assert counted["class_a"] == 2 and counted["class_b"] == 1 + counted.get("bucket_get", 0)
    assert gcs.prepare(state_dir, port, PROJECT, None, reset=False) == f"bucket {gcs.BUCKET} kept"
    assert gcs.prepare(state_dir, port, PROJECT, None, reset=True) == f"bucket {gcs.BUCKET} emptied (1 objects)"
    assert list(client.list_blobs(bucket)) == []


def test_stopping_the_part_stops_the_emulator_and_its_token_endpoint(tmp_path):
    port = free_port()
    pid = gcs.start_gcs(tmp_path, port)
    wait_until(lambda: gcs.gcs_ready(tmp_path, port), 30, gcs.LABEL, log_path(tmp_path, gcs.NAME), pid)
    token_url = gcs.token_uri(tmp_path)
    assert stop_process(tmp_path, gcs.NAME)
    assert port_is_free(port) and http_get(token_url) is None
