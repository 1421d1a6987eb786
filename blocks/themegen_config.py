"""ThemegenConfig: the run configuration a user may change in the Prefect UI without a redeploy.

Every field is optional: None keeps the environment's value (THEMEGEN_* settings), so a block only
needs the fields that differ. Field names are `themegen.config.settings.Settings` field names, which makes
the block a plain set of overrides:

    settings = Settings().with_overrides(**ThemegenConfig.load("themegen").overrides())

Register the type with `prefect block register -m blocks.themegen_config` (or `themegen setup`).
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import SettingsError

from themegen.domain.errors import InvalidSettings
from themegen.config.settings import Settings


class ThemegenConfig(Block):
    """Source table, sink tables, model and throughput of the generate-themes flow."""

    _block_type_name = "Themegen Config"
    _description = "generate-themes run configuration; empty fields keep the worker's THEMEGEN_* settings."

    # --- BigQuery source ---
    bq_project: str | None = Field(None, description="project holding the source table")
    bq_dataset: str | None = None
    bq_table: str | None = None
    bq_id_column: str | None = None
    bq_text_columns: list[str] | None = Field(None, description="text columns, joined with newlines")
    bq_where: str | None = Field(None, description="one boolean SQL expression filtering the source rows")
    # --- Spanner sink ---
    spanner_instance: str | None = None
    spanner_database: str | None = None
    spanner_table: str | None = None
    spanner_failures_table: str | None = None
    # --- Gemini ---
    model: str | None = Field(None, description="e.g. gemini-2.5-flash")
    temperature: float | None = None
    max_output_tokens: int | None = None
    prompt_version: str | None = Field(None, description="stored with every row")
    prompt_instructions: str | None = Field(
        None, description="the instructions (what the rows are, the language rule, words per theme) in place of the "
        "built-in ones; the six-theme count and the JSON answer stay fixed. Editing them regenerates every row",
        json_schema_extra={"format": "textarea"})
    prompt_file: str | None = Field(None, description="a prompt file on the worker, used when prompt_instructions is empty")
    rows_per_request: int | None = Field(None, description="rows packed into one Gemini request")
    # --- Quality ---
    quality_sample_rows: int | None = Field(None, description="rows the judge rates per run (0 = off)")
    judge_model: str | None = Field(None, description="the judge model (default: stronger than the generating one)")
    # --- Throughput ---
    batch_size: int | None = Field(None, description="rows per batch task (default: 100 requests' worth, 100 x rows_per_request)")
    rpm: int | None = Field(None, description="Gemini requests per minute the run may send")

    def overrides(self) -> dict[str, Any]:
        """The fields that are set, keyed by Settings field name (for Settings.with_overrides)."""
        # `include` drops what Block adds to a dump (block_type_slug), which Settings does not know.
        return self.model_dump(include=set(type(self).model_fields), exclude_none=True)

    @model_validator(mode="after")
    def _valid_as_settings(self) -> ThemegenConfig:
        # Apply the overrides to the defaults (model_construct reads no environment), so a bad
        # table name or temperature fails when the block is saved or loaded, with Settings' message.
        Settings.model_construct().with_overrides(**self.overrides())
        return self


async def resolve_settings(config_block: str | None = None, **parameters: Any) -> Settings:
    """THEMEGEN_* environment < the named ThemegenConfig block < the flow run's parameters.

    Invalid values raise InvalidSettings, whose message (the flow run's state message) names them.
    """
    try:
        settings = Settings()
        if config_block:
            settings = settings.with_overrides(**(await ThemegenConfig.aload(config_block)).overrides())
        return settings.with_overrides(**parameters)
    except (ValidationError, SettingsError) as error:
        raise InvalidSettings.from_error(error) from error
