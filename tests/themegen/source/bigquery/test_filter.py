"""validate_where: the user's row filter is one boolean expression, or refused before any call (issue 11)."""

from __future__ import annotations

import pytest

from themegen.source.bigquery.filter import validate_where


@pytest.mark.parametrize(
    "text",
    [
        "status = 'open'",
        "created_at >= TIMESTAMP('2024-01-01') AND lang IN ('ja','en')",
        "note = 'a (b'",  # parentheses inside a string do not count
        'note = "x) OR (TRUE"',
        "note = 'x -- not a comment'",
        "note = 'a /* b'",
        "note = '''a ) b'''",
        "note = 'it\\'s ) here'",  # an escaped quote keeps the string open
        "`odd (name` = 1",
        "(lang = 'ja' OR lang = 'en') AND NOT archived",
        "lang IN UNNEST(['ja', 'en'])",
        "score BETWEEN 1 AND 5",
        "deleted_at IS NULL",
        "archived",  # a column alone: BigQuery judges whether it is BOOL
        "TRUE",
    ],
)
def test_one_boolean_expression_is_kept_as_written(text):
    assert validate_where(text) == text
    assert validate_where(f"  {text}\n") == text  # only stripped


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1=1) OR (1=1", "closes a parenthesis"),  # the shard-widening escape
        ("1=1)", "closes a parenthesis"),
        ("a = 1) AND (b = 2", "closes a parenthesis"),
        ("(1=1", "parenthesis(es) open"),
        ("lang = 'ja", "quote open"),
        ("a=1; DROP TABLE x", "';'"),
        ("a = 1;", "';'"),
        ("note = 'x' -- c", "comment"),
        ("note = 'x' /* c */", "comment"),
        ("a = 1 # c", "comment"),
        ("EXISTS (SELECT 1)", "subquery"),
        ("id IN (SELECT id FROM t)", "subquery"),
        ("a = (SELECT MAX(a) FROM t)", "subquery"),
        ("SELECT 1", "not a boolean expression"),
        ("DELETE FROM t WHERE TRUE", "not a boolean expression"),
        ("a = 1 UNION ALL SELECT 1", "not a boolean expression"),
        ("a = 1 b", "not a boolean expression"),  # sqlglot reads `b` as an alias
        ("a = 1 OR", "does not parse"),
        ("a = 1, b = 2", "does not parse"),
        ("a = 1 LIMIT 5", "does not parse"),
        ("1", "not a boolean expression"),
        ("'open'", "not a boolean expression"),
        ("(1)", "not a boolean expression"),
        ("1 + 2", "not a boolean expression"),
        ("NULL", "not a boolean expression"),
        ("@shard = 0", "query parameter"),
        ("", "is empty"),
        ("   \n", "is empty"),
    ],
)
def test_anything_else_is_refused_naming_the_setting(text, reason):
    with pytest.raises(ValueError, match="THEMEGEN_BQ_WHERE") as refused:
        validate_where(text)
    assert reason in str(refused.value)
    assert "one boolean SQL expression" in str(refused.value)  # what to do instead
