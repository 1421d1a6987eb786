"""The Cloud Storage emulator of the local stack (local_stack/gcs.py), for the row cache's tests:
one per session on a free port, its storage operations counted from its own log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_stack import gcs
from local_stack.processes import free_port, log_path, stop_process, wait_until
from themegen.cache.segments import close_all


@dataclass
class Emulator:
    state_dir: Path
    port: int
    token_uri: str
    project: str = "themegen-local"

    def bucket(self, folder: str | None = None):
        """A GcsBucket block on the emulator (not saved), in a folder of its own unless given one."""
        return gcs.bucket_block(self.project, self.token_uri, folder=folder or f"t-{uuid.uuid4().hex[:8]}")

    def mark(self) -> int:
        return gcs.log_offset(self.state_dir)

    def operations(self, since: int) -> dict[str, int]:
        return gcs.operations(self.state_dir, since)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state_dir, port = tmp_path_factory.mktemp("gcs"), free_port()
    pid = gcs.start_gcs(state_dir, port)
    try:
        wait_until(lambda: gcs.gcs_ready(state_dir, port), 30, gcs.LABEL, log_path(state_dir, gcs.NAME), pid)
        gcs.prepare(state_dir, port, Emulator.project, None, reset=False)
        with pytest.MonkeyPatch.context() as patch:
            # google-cloud-storage reads it when a client is made: every client of these tests
            patch.setenv("STORAGE_EMULATOR_HOST", gcs.gcs_env(port)["STORAGE_EMULATOR_HOST"])
            yield Emulator(state_dir, port, gcs.token_uri(state_dir))
    finally:
        close_all()
        stop_process(state_dir, gcs.NAME)
