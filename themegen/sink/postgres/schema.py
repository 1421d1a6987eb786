"""PostgreSQL DDL for the themes and failures tables (`THEMEGEN_SINK=postgres themegen ddl`).

Names are quoted, so a table named `Themes` keeps its case; they are checked identifiers (letters,
digits, underscores: PostgresSettings), so quoting cannot be escaped. Pure: no driver needed.
Not named ddl.py: importing a submodule `ddl` would replace the package's `ddl()` factory with it.
"""

from __future__ import annotations

THEME_COLUMNS = ("source_id", "themes", "model", "prompt_version", "prompt_fingerprint", "input_hash", "generated_at")
FAILURE_COLUMNS = ("source_id", "batch_id", "reason", "error", "attempts", "failed_at", "flow_run_id")
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


def all_ddl(themes_table: str = "themes", failures_table: str = "theme_failures",
            judgements_table: str = "theme_judgements") -> list[str]:
    return [themes_ddl(themes_table), failures_ddl(failures_table), judgements_ddl(judgements_table)]
