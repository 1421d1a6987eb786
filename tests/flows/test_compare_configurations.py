"""The compare flow, as the Prefect UI starts it: typed sides, the comparison artifact saying which to
use and why with each side's rubric rates, and a side whose prompt file is missing refused before any call."""

from __future__ import annotations

import re

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.compare_configurations import Configuration, compare_configurations
from tasks.compare_configurations import ARTIFACT

GARBLED = {"gemini-worse": {"generic": 0.05, "unsupported": 0.05}}


async def artifact_of(flow_run_id) -> str:
    async with get_client() as client:
        [artifact] = await client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[ARTIFACT]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return artifact.data


async def test_the_flow_publishes_which_to_use_and_why(stack):
    stack.clear_outputs()
    stack.sim("config", {"quality_faults": GARBLED})
    try:
        state = await compare_configurations(a=Configuration(model="gemini-worse"), b=Configuration(model="gemini-better"),
                                             rows=200, look=50, seed=2, return_state=True)
    finally:
        stack.sim("config", {"quality_faults": {}})
    comparison = await state.result()
    assert comparison.decision.winner == "b"
    markdown = await artifact_of(state.state_details.flow_run_id)
    assert f"**{comparison.advice}**" in markdown and "Use B (gemini-better" in markdown
    # A's themes are 5% generic, B's all specific: the rubric row shows both with intervals
    assert re.search(r"\| specific \(95% interval\) \| 0\.9\d\d \[0\.9\d\d, 0\.9\d\d\] \| 1\.000 \[0\.9\d\d, 1\.000\] \|",
                     markdown), markdown
    assert "| minutes per 1,000 rows at the quota |" in markdown and "Gemini simulator" in markdown
    assert stack.read_table("SELECT COUNT(*) FROM Themes")[0][0] == 0


async def test_a_side_whose_prompt_file_is_missing_fails_before_any_call(stack, tmp_path):
    stack.clear_outputs()
    missing = tmp_path / "v2.txt"
    state = await compare_configurations(a=Configuration(), b=Configuration(prompt_file=str(missing)), rows=50,
                                         return_state=True)
    assert state.is_failed() and f"THEMEGEN_PROMPT_FILE={missing} cannot be read" in state.message
    stats = stack.sim("stats")
    assert stats["requests"] == 0 and stats["judge"]["requests"] == 0
