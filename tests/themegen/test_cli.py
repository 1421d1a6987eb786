"""The CLI refuses a row limit below 1 before loading anything (0 used to mean every row)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from themegen.cli import app


@pytest.mark.parametrize("command", ["run", "estimate"])
@pytest.mark.parametrize("rows", ["0", "-1"])
def test_rows_below_one_is_refused(command, rows, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per message, whatever the terminal
    result = CliRunner().invoke(app, [command, "--rows", rows])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--rows'" in result.output
