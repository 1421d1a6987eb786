"""What a person sees from `themegen`: one short error naming the variable to fix (the traceback only
with --debug), only JSON on stdout with --json, no per-task Prefect lines.

Commands run as a person runs them (a subprocess on the session's local stack), except where typer's
runner is enough.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from themegen.cli.app import app

CLI = [sys.executable, "-m", "themegen.cli.app"]
MAX_LINES = 5


def themegen(args: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess:
    """`themegen ARGS` with the stack's settings (already in os.environ) and `env` on top."""
    environment = {**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path), "COLUMNS": "200", **env}
    return subprocess.run(CLI + args, env=environment, capture_output=True, text=True, timeout=180)


def assert_one_clear_error(result: subprocess.CompletedProcess, *names: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    assert len(output.strip().splitlines()) <= MAX_LINES, output
    assert "Error: " in result.stderr, output
    for name in names:
        assert name in result.stderr, output
    assert "request_id" not in output and ".." not in output.replace("...", ""), output


@pytest.mark.parametrize("command", ["run", "estimate"])
@pytest.mark.parametrize("rows", ["0", "-1"])
def test_rows_below_one_is_refused(command, rows, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per message, whatever the terminal
    result = CliRunner().invoke(app, [command, "--rows", rows])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--rows'" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "names"),
    [
        ("THEMEGEN_BQ_TABLE", "nope", ["THEMEGEN_BQ_TABLE", "themegen.nope not found"]),
        ("THEMEGEN_BQ_TEXT_COLUMNS", '["body"]', ["THEMEGEN_BQ_TEXT_COLUMNS", "'body'"]),
        ("THEMEGEN_SPANNER_DATABASE", "nodb", ["THEMEGEN_SPANNER_DATABASE", "Database not found"]),
        ("THEMEGEN_GEMINI_API_KEY", "wrong", ["THEMEGEN_GEMINI_API_KEY", "API key not valid"]),
        ("THEMEGEN_RPM", "-5", ["THEMEGEN_RPM=-5"]),
        ("THEMEGEN_BQ_TEXT_COLUMNS", "text", ["THEMEGEN_BQ_TEXT_COLUMNS", "JSON"]),
        ("THEMEGEN_GEMINI_BASE_URL", "http://127.0.0.1:9", ["THEMEGEN_GEMINI_BASE_URL", "`themegen stack up`"]),
    ],
)
def test_a_misconfigured_run_prints_one_message_naming_the_variable(stack, tmp_path, variable, value, names):
    result = themegen(["run", "--rows", "10"], tmp_path, **{variable: value})
    assert_one_clear_error(result, *names)
    assert "Task run" not in result.stderr and "Flow run" not in result.stderr  # Prefect's own lines stay in the UI


def test_estimate_with_an_invalid_setting_names_it(stack, tmp_path):
    assert_one_clear_error(themegen(["estimate"], tmp_path, THEMEGEN_RPM="-5"), "THEMEGEN_RPM=-5")


def test_debug_adds_the_traceback_and_the_log_file_keeps_it(stack, tmp_path):
    # --in-process: the traceback of the command's own process (a worker's run keeps it in its logs)
    quiet = themegen(["run", "--rows", "10", "--in-process"], tmp_path, THEMEGEN_BQ_TABLE="nope")
    assert_one_clear_error(quiet, "THEMEGEN_BQ_TABLE")
    assert "SourceConfigError" in (tmp_path / "logs" / "themegen.log").read_text()

    loud = themegen(["--debug", "run", "--rows", "10", "--in-process"], tmp_path, THEMEGEN_BQ_TABLE="nope")
    assert loud.returncode == 1
    assert "Traceback" in loud.stderr and "THEMEGEN_BQ_TABLE" in loud.stderr.splitlines()[-1]


def test_debug_also_works_after_the_command(tmp_path):
    loud = themegen(["estimate", "--debug"], tmp_path, THEMEGEN_RPM="-5")
    assert loud.returncode == 1
    assert "Traceback" in loud.stderr and "THEMEGEN_RPM" in loud.stderr.splitlines()[-1]


@pytest.mark.parametrize("command", [["run"], ["limits", "apply"], ["setup"]])
def test_without_a_stack_the_prefect_commands_say_to_start_it(stack, tmp_path, command):
    result = themegen(command, tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert_one_clear_error(result, "http://127.0.0.1:9/api", "`themegen stack up`", "PREFECT_API_URL")


def test_run_json_can_be_piped_to_a_json_parser(stack, tmp_path):
    stack.clear_outputs()
    environment = {**os.environ, "THEMEGEN_STATE_DIR": str(tmp_path)}
    pipe = (f"{sys.executable} -m themegen.cli.app run --rows 50 --json"
            f" | {sys.executable} -c 'import json,sys; json.load(sys.stdin)'")
    result = subprocess.run(pipe, shell=True, env=environment, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "themegen run: Completed" in result.stderr  # the table went to stderr
    assert "Finished in state" not in result.stderr  # no per-task lines
    assert len(stack.read_table("SELECT SourceId FROM Themes")) >= 48  # it ran (a few sample texts are empty)


def test_run_groups_failed_rows_by_reason_with_examples_and_what_a_rerun_fixes(stack, tmp_path):
    stack.clear_outputs()
    stack.sim("config", {**stack.sim_defaults, "fail_ids": ["fb-000003", "fb-000007"], "fail_mode": "five_themes",
                         "error_ids": ["fb-000011"]})
    try:
        result = themegen(["run", "--rows", "40", "--rows-per-request", "1", "--json"], tmp_path,
                          THEMEGEN_MAX_ATTEMPTS="2")
    finally:
        stack.sim("config", stack.sim_defaults)
    assert result.returncode == 1, result.stderr  # unfinished rows: the run ends Failed
    groups = {g["reason"]: g for g in json.loads(result.stdout)["failures"]}
    assert groups["invalid_answer"]["rows"] == 2 and not groups["invalid_answer"]["rerun_fixes"]
    assert sorted(groups["invalid_answer"]["example_ids"]) == ["fb-000003", "fb-000007"]
    assert groups["transient"]["example_ids"] == ["fb-000011"] and groups["transient"]["rerun_fixes"]
    # The terminal shows the same groups, and where the full list is.
    assert "failed rows by reason" in result.stderr and "SELECT * FROM ThemeFailures" in result.stderr
    for reason in ("invalid_answer", "transient", "fb-000003", "fb-000011"):
        assert reason in result.stderr
