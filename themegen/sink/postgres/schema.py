"""PostgreSQL DDL for the themes, failures, judgements and taxonomy tables (`THEMEGEN_SINK=postgres themegen ddl`).

Names are quoted, so a table named `Themes` keeps its case; they are checked identifiers (letters,
digits, underscores: PostgresSettings), so quoting cannot be escaped. Pure: no driver needed.
Not named ddl.py: importing a submodule `ddl` would replace the package's `ddl()` factory with it.
"""

from __future__ import annotations

THEME_COLUMNS = ("source_id", "themes", "model", "prompt_version", "prompt_fingerprint", "input_hash", "generated_at")
FAILURE_COLUMNS = ("source_id", "batch_id", "reason", "error", "attempts", "failed_at", "flow_run_id")
CANONICAL_COLUMNS = ("canonical_id", "level", "parent_id", "name_en", "name_ja", "examples", "row_count",
                     "mention_count", "centroid", "settings_fingerprint", "created_at", "updated_at")
MAP_COLUMNS = ("theme", "canonical_id", "similarity", "settings_fingerprint", "mapped_at")
JUDGEMENT_COLUMNS = ("source_id", "judge_model", "rubric_version", "themes", "verdicts", "cover", "model",
                     "prompt_fingerprint", "input_hash", "flow_run_id", "judged_at")


def quoted(name: str) -> str:
    return f'"{name}"'


def themes_ddl(table: str = "themes") -> str:
    # A row is done when model, prompt_version, prompt_fingerprint and input_hash match the current run.
    return (
        f"CREATE TABLE IF NOT EXISTS {quoted(table)} (\n"
        "  source_id TEXT PRIMARY KEY,\n"
        "  themes TEXT[] NOT NULL,\n"
        "  model TEXT,\n"
        "  prompt_version TEXT,\n"
        "  prompt_fingerprint TEXT,\n"
        "  input_hash TEXT,\n"
        "  generated_at TIMESTAMPTZ DEFAULT now()\n"
        ")"
    )


def failures_ddl(table: str = "theme_failures") -> str:
    # One row per failed source row (latest failure wins): a rerun that succeeds deletes it.
    return (
        f"CREATE TABLE IF NOT EXISTS {quoted(table)} (\n"
        "  source_id TEXT PRIMARY KEY,\n"
        "  batch_id BIGINT NOT NULL,\n"
        "  reason TEXT,\n"
        "  error TEXT NOT NULL,\n"
        "  attempts INTEGER NOT NULL,\n"
        "  failed_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
        "  flow_run_id TEXT\n"
        ")"
    )


def judgements_ddl(table: str = "theme_judgements") -> str:
    # The quality judge's latest verdict on a row's themes, per judge model (themegen/quality).
    return (
        f"CREATE TABLE IF NOT EXISTS {quoted(table)} (\n"
        "  source_id TEXT NOT NULL,\n"
        "  judge_model TEXT NOT NULL,\n"
        "  rubric_version TEXT,\n"
        "  themes TEXT[],\n"
        "  verdicts TEXT[],\n"
        "  cover BOOLEAN,\n"
        "  model TEXT,\n"
        "  prompt_fingerprint TEXT,\n"
        "  input_hash TEXT,\n"
        "  flow_run_id TEXT,\n"
        "  judged_at TIMESTAMPTZ DEFAULT now(),\n"
        "  PRIMARY KEY (source_id, judge_model)\n"
        ")"
    )


def canonical_ddl(table: str = "canonical_themes") -> str:
    # The taxonomy's clusters (themegen/taxonomy): level 1 = canonical themes, level 2 = their groups.
    # centroid as real[] needs no extension; pgvector's vector(N) would add an index for it.
    return (
        f"CREATE TABLE IF NOT EXISTS {quoted(table)} (\n"
        "  canonical_id TEXT PRIMARY KEY,\n"
        "  level INTEGER NOT NULL,\n"
        "  parent_id TEXT,\n"
        "  name_en TEXT,\n"
        "  name_ja TEXT,\n"
        "  examples TEXT[],\n"
        "  row_count BIGINT NOT NULL,\n"
        "  mention_count BIGINT NOT NULL,\n"
        "  centroid REAL[] NOT NULL,\n"
        "  settings_fingerprint TEXT NOT NULL,\n"
        "  created_at TIMESTAMPTZ DEFAULT now(),\n"
        "  updated_at TIMESTAMPTZ DEFAULT now()\n"
        ")"
    )


def theme_map_ddl(table: str = "theme_canonical_map") -> str:
    # One row per distinct theme string (the vocabulary, not the rows): its canonical theme, or NULL
    # when it was embedded but fits none (so it is not embedded again).
    return (
        f"CREATE TABLE IF NOT EXISTS {quoted(table)} (\n"
        "  theme TEXT PRIMARY KEY,\n"
        "  canonical_id TEXT,\n"
        "  similarity DOUBLE PRECISION,\n"
        "  settings_fingerprint TEXT NOT NULL,\n"
        "  mapped_at TIMESTAMPTZ DEFAULT now()\n"
        ")"
    )


def all_ddl(themes_table: str = "themes", failures_table: str = "theme_failures",
            judgements_table: str = "theme_judgements", canonical_table: str = "canonical_themes",
            theme_map_table: str = "theme_canonical_map") -> list[str]:
    return [themes_ddl(themes_table), failures_ddl(failures_table), judgements_ddl(judgements_table),
            canonical_ddl(canonical_table), theme_map_ddl(theme_map_table)]
