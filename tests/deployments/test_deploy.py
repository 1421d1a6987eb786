"""prefect.yaml + `themegen setup` end to end: the local deployment, run by a process worker, writes
Spanner and publishes its report; setup is idempotent; every deployment is registered."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from deployments.setup import setup
from tests.flows.helpers import is_empty, source_rows


def test_the_local_deployment_runs_on_a_worker(stack, deployed_run):
    flow_run = deployed_run.flow_run
    assert flow_run.state.is_completed(), (
        f"{flow_run.state.name}: {flow_run.state.message}\n{deployed_run.worker_log.read_text()[-3000:]}"
    )
    assert flow_run.work_pool_name == "themegen-local"
    assert flow_run.parameters == {"rows_limit": 60, "batch_size": 20}

    rows = source_rows(stack)
    expected = {i for i in sorted(rows)[:60] if not is_empty(rows[i])}
    # Rows of this source table only: other deployment tests theme tables of their own meanwhile.
    assert {r[0] for r in stack.read_table("SELECT t.SourceId FROM Themes AS t") if r[0] in rows} == expected

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    assert "themegen-report" in {a.key for a in artifacts}


def test_every_deployment_is_registered(deployed_run):
    with get_client(sync_client=True) as client:
        pools = {
            name: client.read_deployment_by_name(f"generate-themes/{name}").work_pool_name
            for name in ("generate-themes-local", "generate-themes-cloud-run")
        }
        sharded = client.read_deployment_by_name("generate-themes-sharded/generate-themes-sharded")
        compare = client.read_deployment_by_name("compare-configurations/compare-configurations-local")
        cloud_run = client.read_deployment_by_name("generate-themes/generate-themes-cloud-run")
        local = client.read_deployment_by_name("generate-themes/generate-themes-local")
    assert pools == {
        "generate-themes-local": "themegen-local",
        "generate-themes-cloud-run": "themegen-cloud-run",
    }
    assert sharded.work_pool_name == compare.work_pool_name == "themegen-local"
    assert set(compare.parameter_openapi_schema["required"]) == {"a", "b"}  # the two sides, typed in the UI form
    # The image comes from the variable setup created; the schedule is there but off.
    assert cloud_run.job_variables["image"].startswith("asia-northeast1-docker.pkg.dev/")
    assert (cloud_run.job_variables["cpu"], cloud_run.job_variables["memory"]) == ("2000m", "4Gi")
    assert [s.active for s in cloud_run.schedules] == [False]
    # Heartbeats for the zombie-run automation, and API retries that outlast a short outage.
    for deployment in (local, sharded, cloud_run):
        env = deployment.job_variables["env"]
        assert (env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"], env["PREFECT_CLIENT_MAX_RETRIES"]) == ("30", "7")


async def test_setup_again_changes_nothing(deployed_run):
    items = await setup()
    assert {item.status for item in items} == {"found"}, [str(i) for i in items]
