"""compare_configurations: which of two configurations (model and/or prompt) gives better themes, and
what each costs, started from the Prefect UI (`themegen compare` does the same from a terminal).

Steps:
1. compare_sides      - both sides answer the same seeded sample of the source's rows, a chunk at a time;
                        a judge says which set of themes is better per row, in both orders, until the
                        preference is clear (or the rows run out); then each side's themes are rated with
                        the quality rubric. A missing or empty prompt file fails here, before any call.
                        Answers and verdicts go to the row cache; the sink is not touched
2. publish_comparison - the artifact themegen-comparison: which to use and why, per side the rubric rates
                        with intervals, cost and tokens per 1,000 rows and minutes at the quota
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import BaseModel, Field

from blocks.themegen_config import resolve_settings
from tasks.compare_configurations import compare_sides, publish_comparison
from themegen.config.settings import Settings
from themegen.quality.comparing import Comparison, side_settings


class Configuration(BaseModel):
    """One side of the comparison: what differs from the configured settings (empty = as configured)."""

    model: str | None = Field(None, description="e.g. gemini-2.5-flash-lite")
    prompt_file: str | None = Field(None, description="a prompt file on the worker, in place of the configured prompt")
    prompt_instructions: str | None = Field(None, description="the instructions as text (wins over prompt_file)")
    rows_per_request: int | None = Field(None, ge=1, le=50, description="rows packed into one request")

    def settings(self, base: Settings) -> Settings:
        return side_settings(base, **self.model_dump())


@flow(name="compare-configurations", log_prints=True)
async def compare_configurations(
    a: Configuration,
    b: Configuration,
    rows: Annotated[int, Field(ge=1, description="rows compared at most (the same sample for both)")] = 1000,
    look: Annotated[int, Field(ge=10, description="rows between looks at the answer (it stops once clear)")] = 100,
    seed: int = 0,
    config_block: str | None = None,
) -> Comparison:
    """a, b: the two configurations; fields left empty take the configured value (config_block's
    ThemegenConfig block, else THEMEGEN_* settings). seed: which rows are sampled."""
    settings = await resolve_settings(config_block)
    comparison = await compare_sides(a.settings(settings), b.settings(settings), rows, look, seed)
    await publish_comparison(comparison)
    return comparison
