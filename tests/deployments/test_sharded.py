"""generate-themes-sharded on a process worker: three child runs share one Gemini quota through the
`gemini-rpm` Prefect limit, and together write every row."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from tests.deployments.conftest import REPO, flow_run_id_in, process_worker, run_cli, wait_for_final_state
from tests.flows.helpers import is_empty, source_rows, theme_ids

RPM = 1200
THEMEGEN = str(Path(sys.executable).parent / "themegen")


def test_shards_share_one_quota_and_write_every_row(stack, deployed_run, tmp_path):
    stack.clear_outputs()
    env = {**os.environ, "THEMEGEN_HOME": str(REPO), "THEMEGEN_RPM": str(RPM),
           "THEMEGEN_SHARED_RATE_LIMIT": "gemini-rpm"}
    run_cli(THEMEGEN, "setup", env=env)  # gemini-rpm for 1,200 RPM
    stack.sim("config", {"rpm": RPM})  # after clear_outputs, which resets the simulator's knobs
    try:
        # Room for the parent and its three children.
        with process_worker(env, tmp_path / "worker.log", limit=4) as worker:
            out = run_cli(sys.executable, "-m", "prefect", "deployment", "run",
                          "generate-themes-sharded/generate-themes-sharded",
                          "--param", "shards=3", "--param", "batch_size=25", env=env)  # fmt: skip
            flow_run = wait_for_final_state(flow_run_id_in(out), worker, tmp_path / "worker.log")
    finally:
        run_cli(THEMEGEN, "setup", env=dict(os.environ))  # back to the session's limit
    assert flow_run.state.is_completed(), f"{flow_run.state.message}\n{(tmp_path / 'worker.log').read_text()[-3000:]}"

    rows = source_rows(stack)
    assert theme_ids(stack) == {i for i, text in rows.items() if not is_empty(text)}
    stats = stack.sim("stats")
    print(f"simulator: {stats['requests']} requests, {stats['http_429']} answered 429")
    assert stats["http_429"] / stats["requests"] < 0.01

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    report = next(a for a in artifacts if a.key == "themegen-sharded-report")
    assert "3 shards" in report.data and f"| rows total | {len(rows)} |" in report.data
