"""A 3,000-row run on the local stack stores themes a person would believe: none of one character,
no placeholder, mostly several words. Counted in Spanner with plain SQL, not with our code."""

from __future__ import annotations

import pytest

from flows.generate_themes import generate_themes
from local_stack.bigquery import bigquery_client, seed_table
from local_stack.sample_data import generate_rows
from tests.flows.helpers import is_empty

ROWS = 3000
TABLE = "feedback_3000"  # beside the session's 300-row table, which stays as other tests expect it


@pytest.fixture
def table_3000(stack, monkeypatch):
    client = bigquery_client(stack.config.project, stack.env["THEMEGEN_BQ_API_ENDPOINT"])
    table_id = f"{stack.config.project}.{stack.config.dataset}.{TABLE}"
    rows = list(generate_rows(ROWS, seed=14))
    assert seed_table(client, table_id, rows) == ROWS
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", TABLE)
    stack.clear_outputs()
    yield rows
    stack.clear_outputs()  # 3,000 rows of ours must not show up in another test's table
    client.delete_table(table_id, not_found_ok=True)


async def test_a_3000_row_local_run_stores_no_one_character_or_placeholder_theme(stack, table_3000):
    expected_rows = sum(not is_empty(r["text"]) for r in table_3000)

    summary = await generate_themes()

    assert summary.rows_succeeded == expected_rows
    [[rows, themes, one_char, placeholders, several_words, japanese]] = stack.read_table(
        f"""SELECT COUNT(DISTINCT t.SourceId),
                   COUNT(*),
                   COUNTIF(CHAR_LENGTH(theme) = 1),
                   COUNTIF(REGEXP_CONTAINS(theme, r'^theme-[0-9a-f]+-[0-9]+$')),
                   COUNTIF(STRPOS(theme, ' ') > 0),
                   COUNTIF(REGEXP_CONTAINS(theme, r'[\\p{{Hiragana}}\\p{{Katakana}}\\p{{Han}}]'))
            FROM {stack.config.themes_table} AS t CROSS JOIN UNNEST(t.Themes) AS theme""")
    assert (rows, themes) == (expected_rows, 6 * expected_rows)
    assert one_char == 0
    assert placeholders == 0
    # Believable, not just valid: English themes are mostly phrases, and Japanese rows got Japanese.
    assert several_words > themes // 3
    assert japanese > themes // 4
