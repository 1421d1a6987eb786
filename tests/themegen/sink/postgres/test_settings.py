"""What the PostgreSQL sink says about itself (no server needed): its name in messages never shows
the password, a malformed DSN is named without being quoted, and `themegen ddl` prints its tables."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from themegen.cli.app import app
from themegen.sink import SinkConfigError
from themegen.sink.postgres.client import describe, upsert_sql


@pytest.mark.parametrize(("dsn", "said"), [
    ("postgresql://svc:s3cret@10.1.2.3:6432/themes_db", "PostgreSQL 10.1.2.3:6432/themes_db"),
    ("host=db.internal port=5433 dbname=prod user=svc password=s3cret", "PostgreSQL db.internal:5433/prod"),
    ("postgresql://svc:s3cret@/themegen?host=/cloudsql/p:r:i", "PostgreSQL /cloudsql/p:r:i/themegen"),
])
def test_the_description_names_host_and_database_never_the_password(dsn, said, monkeypatch):
    for name in ("PGHOST", "PGPORT", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    assert describe(dsn) == said


def test_a_malformed_dsn_is_named_without_quoting_it():
    with pytest.raises(SinkConfigError, match="THEMEGEN_POSTGRES_DSN is not a libpq connection string") as raised:
        describe("host=db password=s3cret oops")
    assert "s3cret" not in str(raised.value)


def test_an_upsert_replaces_every_column_but_the_key_and_stamps_the_time_on_the_server():
    sql = upsert_sql("themes", ("source_id", "themes", "generated_at"), "generated_at")
    assert sql == ('INSERT INTO "themes" (source_id, themes, generated_at) VALUES (%s, %s, now()) '
                   "ON CONFLICT (source_id) DO UPDATE SET themes = EXCLUDED.themes, generated_at = EXCLUDED.generated_at")


def test_themegen_ddl_prints_the_chosen_sinks_tables(monkeypatch, tmp_path):
    monkeypatch.setenv("THEMEGEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("THEMEGEN_SINK", "postgres")
    monkeypatch.setenv("THEMEGEN_POSTGRES_TABLE", "Themes")
    result = CliRunner().invoke(app, ["ddl"])
    assert result.exit_code == 0, result.output
    assert 'CREATE TABLE IF NOT EXISTS "Themes" (\n  source_id TEXT PRIMARY KEY,\n  themes TEXT[] NOT NULL' in result.output
    assert 'CREATE TABLE IF NOT EXISTS "theme_failures"' in result.output
    assert 'CREATE TABLE IF NOT EXISTS "theme_judgements"' in result.output and "PRIMARY KEY (source_id, judge_model)" in result.output

    monkeypatch.setenv("THEMEGEN_SINK", "spanner")
    assert "ARRAY<STRING(MAX)>" in CliRunner().invoke(app, ["ddl"]).output
