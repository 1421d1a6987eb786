"""`themegen estimate --compare-model / --compare-prompt-file`: the planned rows priced and timed for
both configurations, and what the last `themegen compare` of the two found (recorded by compare)."""

from __future__ import annotations

import json
import re

from prefect.variables import Variable
from typer.testing import CliRunner

from tests.themegen.cli.test_app import assert_one_clear_error, themegen
from themegen.cli.app import app
from themegen.quality.compare_record import VARIABLE

ESTIMATE = ["estimate", "--rows", "200", "--sample", "20"]


def price(output: str, label: str) -> float:
    return float(re.search(rf"^  {label} +.*?: \$([0-9.,]+),", output, re.M)[1].replace(",", ""))


def test_both_sides_are_priced_and_the_last_comparison_is_shown(stack, monkeypatch, tmp_path):
    stack.clear_outputs()
    monkeypatch.chdir(tmp_path)  # no .themegen/stack.env of a checkout's own stack: the session stack's settings
    Variable.unset(VARIABLE)
    runner = CliRunner()
    before = runner.invoke(app, [*ESTIMATE, "--compare-model", "gemini-2.5-flash-lite"])
    assert before.exit_code == 0, before.output
    assert "Side by side, for the 200 rows planned:" in before.output
    assert "gemini-2.5-flash-lite, prompt built-in" in before.output
    assert price(before.output, "compared") < price(before.output, "configured")  # flash-lite is the cheaper
    assert "no comparison of these two recorded" in before.output
    assert stack.sim("stats")["judge"]["requests"] == 0  # an estimate pays no judge

    compared = runner.invoke(app, ["compare", "--b", "model=gemini-2.5-flash-lite", "--rows", "100", "--json"])
    assert compared.exit_code == 0, compared.output
    after = runner.invoke(app, [*ESTIMATE, "--compare-model", "gemini-2.5-flash-lite"])
    assert after.exit_code == 0, after.output
    assert "last comparison (" in after.output and "100 rows; A was the configured one" in after.output
    assert after.output.rstrip().endswith(json.loads(compared.output)["advice"])


def test_a_missing_prompt_file_to_compare_is_one_clear_error(stack, tmp_path):
    missing = tmp_path / "v2.txt"
    assert_one_clear_error(themegen(["estimate", "--compare-prompt-file", str(missing)], tmp_path),
                           f"THEMEGEN_PROMPT_FILE={missing}")
