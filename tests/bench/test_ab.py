"""bench/ab.py's pure parts: each version's flows get its code first on PYTHONPATH and its variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ab import _ratio, version_env


def test_a_version_runs_its_code_first_with_its_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = version_env(tmp_path, ["THEMEGEN_BATCH_SIZE=500", "X=a=b"])
    assert env["PYTHONPATH"] == f"{tmp_path.resolve()}:/elsewhere"
    assert env["THEMEGEN_BATCH_SIZE"] == "500" and env["X"] == "a=b" and env["THEMEGEN_ROWS_PER_REQUEST"] == "1"
    assert env["PYTHONSAFEPATH"] == "1"  # else `python -m` imports this tree's code before it


def test_ratios_need_both_sides() -> None:
    assert _ratio(3.0, 2.0) == 1.5 and _ratio(None, 2.0) is None and _ratio(3.0, None) is None
