"""Exact gRPC faults on Commit, injected with the servicer shipped in google.cloud.spanner_v1.testing:
transient errors are retried (insert_or_update is idempotent), permanent ones surface at once."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from google.api_core import exceptions as gexc
from google.cloud.spanner_v1 import CommitRequest
from google.cloud.spanner_v1.testing.mock_spanner import SpannerServicer
from google.cloud.spanner_v1.testing.spanner_pb2_grpc import add_SpannerServicer_to_server
from grpc_status.rpc_status import _Status

from themegen.domain.models import ThemeRecord
from themegen.config.settings import Settings
from themegen.sink.spanner.client import SinkUnavailable, SpannerSink, Writes

WRITES = Writes(themes=[ThemeRecord(source_id=f"s{i}", themes=list("abcdef"), model="m", prompt_version="v1",
                                    prompt_fingerprint="fp", input_hash="0" * 64) for i in range(10)])


@pytest.fixture
def mock_spanner(monkeypatch):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = SpannerServicer()
    add_SpannerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")  # the shipped start_mock_server binds every interface
    server.start()
    monkeypatch.setenv("SPANNER_EMULATOR_HOST", f"127.0.0.1:{port}")
    monkeypatch.setenv("SPANNER_DISABLE_BUILTIN_METRICS", "true")
    yield servicer
    server.stop(grace=None)


def status(code: grpc.StatusCode) -> _Status:
    return _Status(code=code, details=f"injected {code.name}", trailing_metadata=())


def commits(servicer: SpannerServicer) -> int:
    return sum(isinstance(r, CommitRequest) for r in servicer.requests)


def sink(**overrides) -> SpannerSink:
    return SpannerSink(Settings(gcp_project="mock-project", gcp_credentials="anonymous", **overrides))


@pytest.mark.parametrize("code", [grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL,
                                  grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED])
async def test_transient_commit_errors_are_retried_until_the_write_lands(mock_spanner, code):
    mock_spanner.mock_spanner.add_error("Commit", status(code))
    writer = sink()
    await writer.write(WRITES, flow_run_id=None)
    assert writer.commits == 1 and commits(mock_spanner) >= 2


async def test_permanent_commit_errors_surface_at_once(mock_spanner):
    mock_spanner.mock_spanner.add_error("Commit", status(grpc.StatusCode.PERMISSION_DENIED))
    with pytest.raises(gexc.PermissionDenied):
        await sink().write(WRITES, flow_run_id=None)
    assert commits(mock_spanner) == 1


async def test_a_spanner_that_stays_down_ends_in_one_error_naming_it_after_the_deadline(mock_spanner):
    for _ in range(200):
        mock_spanner.mock_spanner.add_error("Commit", status(grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(SinkUnavailable) as raised:
        await sink(spanner_deadline_s=2).write(WRITES, flow_run_id=None)
    message = str(raised.value)
    assert "Spanner themegen/themegen" in message and "emulator at 127.0.0.1" in message
    assert "THEMEGEN_SPANNER_DEADLINE_S" in message and "without calling Gemini" in message
