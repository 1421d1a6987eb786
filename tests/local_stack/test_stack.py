"""A whole local stack (without Prefect, to stay fast) on free ports in a temp dir.

The tests share one stack and run in file order; `test_down_stops_everything` is last on purpose.
"""

import socket

import pytest
from google.cloud import spanner

from local_stack.bigquery import bigquery_client
from local_stack.processes import StackError, free_port, http_get, pid_path, port_is_free
from local_stack.sample_data import generate_rows
from local_stack.spanner import BIN_ENV, find_emulator, spanner_client
from local_stack.stack import StackConfig, down, load_env, stack_env, up

ROWS = 200
PARTS = ("spanner", "bigquery", "gemini")


def _free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _config(state_dir) -> StackConfig:
    spanner, rest, grpc, gemini = _free_ports(4)
    return StackConfig(
        state_dir=state_dir, spanner_port=spanner, bigquery_rest_port=rest, bigquery_grpc_port=grpc,
        gemini_port=gemini, seed_rows=ROWS, start_prefect=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def clean_env():
    # The spanner client lets SPANNER_EMULATOR_HOST override its endpoint: keep a developer's
    # exported value from sending these tests to another emulator.
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SPANNER_EMULATOR_HOST", raising=False)
        yield


@pytest.fixture(scope="module")
def stack(tmp_path_factory, clean_env):
    config = _config(tmp_path_factory.mktemp("stack"))
    env = up(config)
    yield config, env
    down(config)


def _ports(config: StackConfig) -> list[int]:
    return [config.spanner_port, config.bigquery_rest_port, config.bigquery_grpc_port, config.gemini_port]


def test_bigquery_table_holds_the_seeded_rows(stack):
    config, env = stack
    client = bigquery_client(env["THEMEGEN_GCP_PROJECT"], env["THEMEGEN_BQ_API_ENDPOINT"])
    table = f"{config.project}.{env['THEMEGEN_BQ_DATASET']}.{env['THEMEGEN_BQ_TABLE']}"
    rows = list(client.list_rows(table))
    assert len(rows) == ROWS
    expected = {r["id"]: r["text"] for r in generate_rows(ROWS)}
    assert {row["id"]: row["text"] for row in rows} == expected
    assert [f.name for f in client.get_table(table).schema] == ["id", "text", "lang", "created_at"]


def test_spanner_database_has_the_tables(stack):
    _, env = stack
    client = spanner_client(env["THEMEGEN_GCP_PROJECT"], env["SPANNER_EMULATOR_HOST"])
    database = client.instance(env["THEMEGEN_SPANNER_INSTANCE"]).database(env["THEMEGEN_SPANNER_DATABASE"])
    with database.snapshot() as snapshot:
        tables = snapshot.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ''"
        )
        assert {row[0] for row in tables} == {"Themes", "ThemeFailures", "ThemeJudgements", "CanonicalThemes",
                                              "ThemeCanonicalMap"}


def test_gemini_simulator_answers(stack):
    _, env = stack
    answer = http_get(f"{env['THEMEGEN_GEMINI_BASE_URL']}/_sim/health")
    assert answer is not None and answer[0] == 200


def test_stack_env_file_holds_the_settings(stack):
    config, env = stack
    assert load_env(config.state_dir) == env == stack_env(config)
    for key in [
        "SPANNER_EMULATOR_HOST", "SPANNER_DISABLE_BUILTIN_METRICS", "THEMEGEN_GCP_PROJECT",
        "THEMEGEN_GCP_CREDENTIALS", "THEMEGEN_BQ_API_ENDPOINT", "THEMEGEN_BQ_STORAGE_ENDPOINT",
        "THEMEGEN_BQ_DATASET", "THEMEGEN_BQ_TABLE", "THEMEGEN_SPANNER_INSTANCE",
        "THEMEGEN_SPANNER_DATABASE", "THEMEGEN_SPANNER_TABLE", "THEMEGEN_SPANNER_FAILURES_TABLE",
        "THEMEGEN_GEMINI_BACKEND", "THEMEGEN_GEMINI_API_KEY", "THEMEGEN_GEMINI_BASE_URL", "THEMEGEN_STACK",
    ]:  # fmt: skip
        assert env[key], key
    assert env["SPANNER_EMULATOR_HOST"] == f"127.0.0.1:{config.spanner_port}"
    assert env["THEMEGEN_STACK"] == "local-simulated"
    assert "PREFECT_API_URL" not in env  # start_prefect=False


def test_second_up_reuses_the_running_parts(stack, capsys):
    config, env = stack
    pids = {name: pid_path(config.state_dir, name).read_text() for name in PARTS}
    assert up(config) == env
    assert {name: pid_path(config.state_dir, name).read_text() for name in PARTS} == pids
    assert capsys.readouterr().out.count("reused") == len(PARTS)


def _themes_ids(env) -> list[str]:
    client = spanner_client(env["THEMEGEN_GCP_PROJECT"], env["SPANNER_EMULATOR_HOST"])
    database = client.instance(env["THEMEGEN_SPANNER_INSTANCE"]).database(env["THEMEGEN_SPANNER_DATABASE"])
    with database.snapshot() as snapshot:
        return [row[0] for row in snapshot.execute_sql("SELECT SourceId FROM Themes ORDER BY SourceId")]


def _sample_rows(config, env) -> int:
    client = bigquery_client(env["THEMEGEN_GCP_PROJECT"], env["THEMEGEN_BQ_API_ENDPOINT"])
    return client.get_table(f"{config.project}.{config.dataset}.{config.table}").num_rows


def test_second_up_keeps_the_data_and_reset_wipes_it(stack, capsys):
    config, env = stack
    client = spanner_client(env["THEMEGEN_GCP_PROJECT"], env["SPANNER_EMULATOR_HOST"])
    database = client.instance(env["THEMEGEN_SPANNER_INSTANCE"]).database(env["THEMEGEN_SPANNER_DATABASE"])
    with database.batch() as batch:
        batch.insert("Themes", ("SourceId", "Themes"), [("a", ["x"]), ("b", ["y"])])
    cached = config.state_dir / "cache" / "answer"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("{}")
    capsys.readouterr()

    up(config.model_copy(update={"seed_rows": 5}))  # a second `stack up`, even with another --rows
    assert _themes_ids(env) == ["a", "b"]
    assert _sample_rows(config, env) == ROWS and cached.exists()
    said = capsys.readouterr().out
    assert "database themegen kept: 2 rows in Themes (`themegen stack up --reset` empties it)" in said
    assert f"kept: {ROWS} rows" in said and "recreated" not in said and "seeded" not in said

    up(config.model_copy(update={"reset": True, "seed_rows": 5}))
    assert _themes_ids(env) == []
    assert _sample_rows(config, env) == 5 and not cached.exists()
    said = capsys.readouterr().out
    assert "--reset: database themegen dropped and created empty" in said and "seeded with 5 rows" in said
    assert "--reset:" in said and "emptied" in said
    up(config.model_copy(update={"reset": True}))  # the other tests' sample table again


def test_the_themes_column_is_read_qualified_as_the_readme_says(stack):
    _, env = stack
    client = spanner_client(env["THEMEGEN_GCP_PROJECT"], env["SPANNER_EMULATOR_HOST"])
    database = client.instance(env["THEMEGEN_SPANNER_INSTANCE"]).database(env["THEMEGEN_SPANNER_DATABASE"])
    with database.batch() as batch:
        batch.insert("Themes", ("SourceId", "Themes"), [("q", ["late delivery", "refund"])])
    with database.snapshot(multi_use=True) as snapshot:
        query = "SELECT t.SourceId, t.Themes FROM Themes AS t WHERE t.SourceId = 'q'"
        assert [list(row) for row in snapshot.execute_sql(query)] == [["q", ["late delivery", "refund"]]]
        with pytest.raises(Exception, match="struct value cannot be returned"):  # the unqualified name is the row
            list(snapshot.execute_sql("SELECT SourceId, Themes FROM Themes"))


def test_a_port_taken_by_another_program_is_named(tmp_path):
    config = _config(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.gemini_port))
        squatter.listen()
        with pytest.raises(StackError, match=rf"port {config.gemini_port} \(gemini_port\)"):
            up(config)
    assert not any(pid_path(tmp_path, name).exists() for name in PARTS)  # nothing was left running


def test_a_part_that_dies_is_reported_with_its_log(tmp_path, clean_env, monkeypatch):
    fake = tmp_path / "emulator_main"
    fake.write_text("#!/bin/sh\necho 'fake emulator: boom'\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv(BIN_ENV, str(fake))
    config = _config(tmp_path)
    with pytest.raises(StackError, match=r"(?s)Spanner.*exited with code 3.*spanner\.log.*boom"):
        up(config)
    assert not any(pid_path(tmp_path, name).exists() for name in PARTS)  # the others were stopped
    assert all(port_is_free(port) for port in _ports(config))


def test_missing_emulator_explains_how_to_install(monkeypatch):
    monkeypatch.delenv(BIN_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(StackError, match="gcloud components install cloud-spanner-emulator"):
        find_emulator()


def _all_rows(env, table: str) -> list[list]:
    client = spanner_client(env["THEMEGEN_GCP_PROJECT"], env["SPANNER_EMULATOR_HOST"])
    database = client.instance(env["THEMEGEN_SPANNER_INSTANCE"]).database(env["THEMEGEN_SPANNER_DATABASE"])
    with database.snapshot() as snapshot:
        return [list(row) for row in snapshot.execute_sql(f"SELECT * FROM {table} ORDER BY 1")]


def test_down_then_up_keeps_the_rows_in_spanner(stack, capsys):
    config, env = stack
    client = spanner_client(env["THEMEGEN_GCP_PROJECT"], env["SPANNER_EMULATOR_HOST"])
    database = client.instance(env["THEMEGEN_SPANNER_INSTANCE"]).database(env["THEMEGEN_SPANNER_DATABASE"])
    with database.batch() as batch:
        batch.insert_or_update("Themes", ("SourceId", "Themes", "Model", "InputHash", "GeneratedAt"),
                               [(f"k{i}", ["配送の遅れ", f"theme {i}"], "m", "h" * 64, spanner.COMMIT_TIMESTAMP)
                                for i in range(5)])
        batch.insert_or_update("ThemeFailures", ("SourceId", "BatchId", "Reason", "Error", "Attempts", "FailedAt"),
                               [("f1", 3, "input", "empty text", 0, spanner.COMMIT_TIMESTAMP)])
        batch.insert_or_update("ThemeJudgements", ("SourceId", "JudgeModel", "Themes", "Verdicts", "Cover", "JudgedAt"),
                               [("k1", "judge", ["配送の遅れ", "theme 1"], ["1111", "1101"], True, spanner.COMMIT_TIMESTAMP)])
        batch.insert_or_update("CanonicalThemes", ("CanonicalId", "Level", "NameJa", "Examples", "RowCount", "MentionCount",
                                                   "Centroid", "SettingsFingerprint", "CreatedAt"),
                               [("L1-00001", 1, "配送", ["配送の遅れ"], 1, 2, [0.1 * (i % 7) for i in range(256)], "fp",
                                 spanner.COMMIT_TIMESTAMP)])
        batch.insert_or_update("ThemeCanonicalMap", ("Theme", "CanonicalId", "Similarity", "SettingsFingerprint"),
                               [("配送の遅れ", "L1-00001", 0.91, "fp"), ("theme 1", None, None, "fp")])
    tables = ("Themes", "ThemeFailures", "ThemeJudgements", "CanonicalThemes", "ThemeCanonicalMap")
    before = {table: _all_rows(env, table) for table in tables}
    assert len(before["Themes"]) >= 5 and before["ThemeFailures"]

    down(config)
    up(config)

    assert {table: _all_rows(env, table) for table in tables} == before
    said = capsys.readouterr().out
    assert f"{sum(map(len, before.values()))} rows saved" in said and "rows restored" in said


def test_down_stops_everything(stack):
    config, _ = stack
    down(config)
    assert all(port_is_free(port) for port in _ports(config))
    assert not any(pid_path(config.state_dir, name).exists() for name in PARTS)
    down(config)  # harmless when nothing runs
