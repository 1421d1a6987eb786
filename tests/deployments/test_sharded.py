"""generate-themes-sharded on a process worker: three child runs share one Gemini quota through the
`gemini-rpm` Prefect limit, and together write every row."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)

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
        with process_worker(stack, env, tmp_path / "worker.log", limit=4) as worker:
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
    # The taxonomy is built once, by the parent, on what the three shards wrote.
    assert "## Canonical themes" in report.data and "Not built" not in report.data
    mapped = {theme for (theme,) in stack.read_table("SELECT Theme FROM ThemeCanonicalMap")}
    assert {theme for (themes,) in stack.read_table("SELECT t.Themes FROM Themes AS t") for theme in themes} <= mapped


def test_a_job_longer_than_a_run_is_split_into_children_one_after_another(stack, deployed_run, tmp_path):
    """THEMEGEN_RUN_TIMEOUT_S=6 at 1,200 RPM: 300 rows are 15 s of quota, so four children of under
    4.8 s of quota each, run one at a time at the full quota."""
    stack.clear_outputs()
    env = {**os.environ, "THEMEGEN_HOME": str(REPO), "THEMEGEN_RPM": str(RPM), "THEMEGEN_RUN_TIMEOUT_S": "6"}
    with process_worker(stack, env, tmp_path / "worker.log", limit=2) as worker:
        out = run_cli(sys.executable, "-m", "prefect", "deployment", "run",
                      "generate-themes-sharded/generate-themes-sharded", "--param", "batch_size=25",
                      "--param", "tier=standard", "--param", "deadline=2h",
                      # A custom run's settings (the UI's job variables) reach every child.
                      "--job-variable", 'env={"THEMEGEN_ORCHESTRATOR_TIMEOUT_S": "239"}', env=env)
        flow_run = wait_for_final_state(flow_run_id_in(out), worker, tmp_path / "worker.log")
    assert flow_run.state.is_completed(), f"{flow_run.state.message}\n{(tmp_path / 'worker.log').read_text()[-3000:]}"
    rows = source_rows(stack)
    assert theme_ids(stack) == {i for i, text in rows.items() if not is_empty(text)}
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id])))
    assert sorted(c.parameters["shard"] for c in children) == [0, 1, 2, 3]
    assert {c.parameters["shard_count"] for c in children} == {4}
    assert {c.parameters["concurrent_shards"] for c in children} == {1}
    assert {(c.parameters["tier"], c.parameters["deadline"]) for c in children} == {("standard", "2h")}
    # One deadline for all: the moment the parent started plus 2 h, not each child's own start.
    assert len({c.job_variables["env"]["THEMEGEN_DEADLINE_AT"] for c in children}) == 1
    assert {c.job_variables["env"]["THEMEGEN_ORCHESTRATOR_TIMEOUT_S"] for c in children} == {"239"}
    spans = sorted((c.start_time, c.end_time) for c in children)
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:]))  # one after another
