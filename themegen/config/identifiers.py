"""Names that end up inside SQL and DDL text are checked, never quoted blindly (pure)."""

from __future__ import annotations

import re

# letters, digits and underscores, starting with a letter or underscore
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# GCP project ids may contain dashes (and a domain prefix such as "example.com:proj").
_PROJECT = re.compile(r"^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,61}[a-z0-9]$")


def check_identifier(value: str, setting: str) -> str:
    """`setting` is the flat setting name (e.g. spanner_table), which names the environment variable."""
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{setting}={value!r} is not a valid identifier: use letters, digits and underscores "
            f"(set THEMEGEN_{setting.upper()})"
        )
    return value


def check_project(value: str | None, setting: str) -> str | None:
    if value is not None and not _PROJECT.match(value):
        raise ValueError(f"{setting}={value!r} is not a valid GCP project id")
    return value
