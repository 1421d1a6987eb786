"""Default Spanner DDL for the themes, failures, judgements and taxonomy tables (printed by `themegen ddl`), and the
ALTER statements that bring tables made by earlier versions up to date.

Not named ddl.py: importing a submodule `ddl` would replace the package's `ddl()` factory with it."""

from __future__ import annotations


def themes_ddl(table: str = "Themes") -> str:
    # A row is done when Model, PromptVersion, PromptFingerprint and InputHash match the current run.
    return (
        f"CREATE TABLE {table} (\n"
        "  SourceId STRING(MAX) NOT NULL,\n"
        "  Themes ARRAY<STRING(MAX)> NOT NULL,\n"
        "  Model STRING(MAX),\n"
        "  PromptVersion STRING(MAX),\n"
        "  PromptFingerprint STRING(64),\n"
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
        "  Reason STRING(64),\n"
        "  Error STRING(MAX) NOT NULL,\n"
        "  Attempts INT64 NOT NULL,\n"
        "  FailedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp=true),\n"
        "  FlowRunId STRING(64),\n"
        ") PRIMARY KEY (SourceId)"
    )


def judgements_ddl(table: str = "ThemeJudgements") -> str:
    # The quality judge's latest verdict on a row's themes, per judge model (themegen/quality).
    return (
        f"CREATE TABLE {table} (\n"
        "  SourceId STRING(MAX) NOT NULL,\n"
        "  JudgeModel STRING(MAX) NOT NULL,\n"
        "  RubricVersion STRING(64),\n"
        "  Themes ARRAY<STRING(MAX)>,\n"
        "  Verdicts ARRAY<STRING(16)>,\n"
        "  Cover BOOL,\n"
        "  Model STRING(MAX),\n"
        "  PromptFingerprint STRING(64),\n"
        "  InputHash STRING(64),\n"
        "  FlowRunId STRING(64),\n"
        "  JudgedAt TIMESTAMP OPTIONS (allow_commit_timestamp=true),\n"
        ") PRIMARY KEY (SourceId, JudgeModel)"
    )


def canonical_ddl(table: str = "CanonicalThemes", dimensions: int = 256) -> str:
    # The taxonomy's clusters (themegen/taxonomy): level 1 = canonical themes, level 2 = their groups.
    # Centroid: where later runs compare new themes; vector_length makes it usable by a vector index.
    return (
        f"CREATE TABLE {table} (\n"
        "  CanonicalId STRING(64) NOT NULL,\n"
        "  Level INT64 NOT NULL,\n"
        "  ParentId STRING(64),\n"
        "  NameEn STRING(MAX),\n"
        "  NameJa STRING(MAX),\n"
        "  Examples ARRAY<STRING(MAX)>,\n"
        "  RowCount INT64 NOT NULL,\n"
        "  MentionCount INT64 NOT NULL,\n"
        f"  Centroid ARRAY<FLOAT32>(vector_length=>{dimensions}) NOT NULL,\n"
        "  SettingsFingerprint STRING(64) NOT NULL,\n"
        "  CreatedAt TIMESTAMP OPTIONS (allow_commit_timestamp=true),\n"
        "  UpdatedAt TIMESTAMP OPTIONS (allow_commit_timestamp=true),\n"
        ") PRIMARY KEY (CanonicalId)"
    )


def theme_map_ddl(table: str = "ThemeCanonicalMap") -> str:
    # One row per distinct theme string (the vocabulary, not the rows): its canonical theme, or NULL
    # when it was embedded but fits none (so it is not embedded again).
    return (
        f"CREATE TABLE {table} (\n"
        "  Theme STRING(MAX) NOT NULL,\n"
        "  CanonicalId STRING(64),\n"
        "  Similarity FLOAT64,\n"
        "  SettingsFingerprint STRING(64) NOT NULL,\n"
        "  MappedAt TIMESTAMP OPTIONS (allow_commit_timestamp=true),\n"
        ") PRIMARY KEY (Theme)"
    )


# Columns added after the first release: table -> (column, type). check_tables names the ALTER.
ADDED_COLUMNS = {"themes": ("PromptFingerprint", "STRING(64)"), "failures": ("Reason", "STRING(64)")}


def upgrade_ddl(table: str, kind: str) -> str:
    column, column_type = ADDED_COLUMNS[kind]
    return f"ALTER TABLE {table} ADD COLUMN {column} {column_type}"


def all_ddl(themes_table: str = "Themes", failures_table: str = "ThemeFailures",
            judgements_table: str = "ThemeJudgements", canonical_table: str = "CanonicalThemes",
            theme_map_table: str = "ThemeCanonicalMap", dimensions: int = 256) -> list[str]:
    return [themes_ddl(themes_table), failures_ddl(failures_table), judgements_ddl(judgements_table),
            canonical_ddl(canonical_table, dimensions), theme_map_ddl(theme_map_table)]
