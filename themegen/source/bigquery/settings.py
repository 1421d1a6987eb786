"""The BigQuery source's settings (THEMEGEN_BQ_*), nested in the root Settings as `bq`."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from themegen.config.identifiers import check_identifier, check_project
from themegen.source.bigquery.filter import validate_where


class BigQuerySettings(BaseModel):
    project: str | None = Field(None, description="project holding the source table (default gcp_project)")
    dataset: str = "themegen"
    table: str = "feedback"
    id_column: str = "id"
    # NoDecode: the environment's JSON is parsed below, so a value that is not JSON gets a message naming it
    text_columns: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["text"])
    where: str | None = Field(None, description="optional filter on the source rows: one boolean BigQuery SQL expression")
    location: str | None = None
    staging_dataset: str | None = Field(
        None, description="dataset for the run's snapshot table (default: the source dataset)"
    )
    done_record: bool = Field(
        True, description="keep a record of what the sink holds in the staging dataset, so the snapshot selects "
        "only new, changed and unfinished rows (false: every row is read and checked against the sink)")
    done_table: str = Field("themegen_done", description="the done record's table in the staging dataset")
    api_endpoint: str | None = Field(None, description="BigQuery REST endpoint override (emulator)")
    storage_endpoint: str | None = Field(
        None, description="BigQuery Storage Read gRPC host:port override; http://host:port for plaintext (an emulator)")

    @field_validator("dataset", "staging_dataset", "table", "id_column", "done_table")
    @classmethod
    def _identifier(cls, value: str | None, info) -> str | None:
        return None if value is None else check_identifier(value, f"bq_{info.field_name}")

    @field_validator("text_columns", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("THEMEGEN_BQ_TEXT_COLUMNS cannot be parsed: write a list as JSON, e.g. "
                                 "THEMEGEN_BQ_TEXT_COLUMNS='[\"text\"]'") from None
        return value

    @field_validator("text_columns")
    @classmethod
    def _text_columns(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("bq_text_columns is empty: name at least one text column")
        return [check_identifier(v, "bq_text_columns") for v in value]

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        return check_project(value, "bq_project")

    @field_validator("where")
    @classmethod
    def _where(cls, value: str | None) -> str | None:
        # The filter is SQL by design, pasted into the snapshot query next to the shard condition:
        # anything but one boolean expression could widen a shard (issue 11). Empty = no filter.
        if value is None or not value.strip():
            return None
        return validate_where(value)
