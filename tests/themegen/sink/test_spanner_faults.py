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

from themegen.models import ThemeRecord
from themegen.settings import Settings
from themegen.sink.spanner import SpannerSink

RECORDS = [ThemeRecord(source_id=f"s{i}", themes=list("abcdef"), model="m", prompt_version="v1",
                       input_hash="0" * 64) for i in range(10)]


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


def sink() -> SpannerSink:
    return SpannerSink(Settings(gcp_project="mock-project", gcp_credentials="anonymous"))


@pytest.mark.parametrize("code", [grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL,
                                  grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED])
def test_transient_commit_errors_are_retried_until_the_write_lands(mock_spanner, code):
    mock_spanner.mock_spanner.add_error("Commit", status(code))
    writer = sink()
    assert writer.write_themes(RECORDS) == len(RECORDS)
    assert writer.commits == 1 and commits(mock_spanner) >= 2


def test_permanent_commit_errors_surface_at_once(mock_spanner):
    mock_spanner.mock_spanner.add_error("Commit", status(grpc.StatusCode.PERMISSION_DENIED))
    with pytest.raises(gexc.PermissionDenied):
        sink().write_themes(RECORDS)
    assert commits(mock_spanner) == 1
