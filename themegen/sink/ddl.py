"""Default Spanner DDL for the themes and failures tables (printed by `themegen ddl`)."""

from __future__ import annotations


def themes_ddl(table: str = "Themes") -> str:
    return (
        f"CREATE TABLE {table} (\n"
        "  SourceId STRING(MAX) NOT NULL,\n"
        "  Themes ARRAY<STRING(MAX)> NOT NULL,\n"
        "  Model STRING(MAX),\n"
        "  PromptVersion STRING(MAX),\n"
        "  InputHash STRING(64),\n"
        "  GeneratedAt TIMESTAMP OPTIONS (allow_commit_timestamp=true),\n"
        ") PRIMARY KEY (SourceId)"
    )


def failures_ddl(table: str = "ThemeFailures") -> str:
    # One row per failed source row (latest failure wins): a rerun that succeeds deletes it.
    return (
        f"CREATE TABLE {table} (\n"
        "  SourceId STRING(MAX) NOT NULL,\n"
        "  BatchId INT64 NOT NULL,\n"
        "  Error STRING(MAX) NOT NULL,\n"
        "  Attempts INT64 NOT NULL,\n"
        "  FailedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp=true),\n"
        "  FlowRunId STRING(64),\n"
        ") PRIMARY KEY (SourceId)"
    )


def all_ddl(themes_table: str = "Themes", failures_table: str = "ThemeFailures") -> list[str]:
    return [themes_ddl(themes_table), failures_ddl(failures_table)]
