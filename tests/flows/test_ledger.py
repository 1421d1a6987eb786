"""The sink and the row cache are the record of what is done: reruns pay only for what is not, and
each batch writes its own outcome. On every sink; the simulator's request counter and the sink's
tables (read with the database's own client) are the witnesses."""

from __future__ import annotations

import pytest

import tasks.generate_batch as generate_step
from flows.generate_themes import generate_themes
from local_stack.bigquery import bigquery_client
from tests.flows.helpers import batch_rows, distinct_texts, is_empty, nonempty, source_rows, texts_of
from themegen.domain import prompt
from themegen.source.bigquery.client import BigQuerySource

ROWS, BATCH = 60, 20


async def test_null_and_empty_ids_are_skipped_alone_and_their_batch_mates_get_themes(stack, sink, monkeypatch):
    sink.clear_outputs()
    client = bigquery_client(stack.config.project, stack.env["THEMEGEN_BQ_API_ENDPOINT"])
    table = f"{stack.config.project}.{stack.config.dataset}"
    client.query(f"""CREATE OR REPLACE TABLE `{table}.nullable_ids` AS
        SELECT id, text FROM `{table}.{stack.config.table}` WHERE id <= 'fb-000030'
        UNION ALL SELECT CAST(NULL AS STRING) AS id, 'no id, but a text about late parcels' AS text
        UNION ALL SELECT CAST(NULL AS STRING) AS id, 'another row without an id' AS text
        UNION ALL SELECT '  ' AS id, 'a blank id' AS text""").result()
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", "nullable_ids")
    rows = {i: t for i, t in source_rows(stack).items() if i <= "fb-000030"}

    summary = await generate_themes(batch_size=100)  # one batch: the id-less rows would sit in it

    assert sink.theme_ids() == set(nonempty(rows, sorted(rows)))
    assert summary.rows_without_id == 3 and summary.rows_total == len(rows)
    assert None not in stack.sim("stats")["row_requests"]


async def test_a_rerun_of_a_finished_run_with_permanent_failures_pays_nothing_unless_asked(stack, sink, monkeypatch):
    sink.clear_outputs()
    monkeypatch.setenv("THEMEGEN_MAX_ATTEMPTS", "2")
    rows = source_rows(stack)
    bad = nonempty(rows, sorted(rows)[:ROWS])[:3]
    stack.sim("config", {"fail_ids": bad})  # invalid answers, also after the repair retry

    first = await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    paid = stack.sim("stats")["requests"]
    second = await generate_themes(rows_limit=ROWS, batch_size=BATCH)

    assert stack.sim("stats")["requests"] == paid == first.llm_calls  # not one call more
    assert second.llm_calls == 0 and second.rows_failed == first.rows_failed
    failures = sink.failures()
    assert all(failures[i].reason == "invalid_answer" for i in bad)

    await generate_themes(rows_limit=ROWS, batch_size=BATCH, retry_failed=True)
    assert stack.sim("stats")["requests"] == paid + 2 * len(bad)  # asked for: each sent again, with its repair


async def test_a_rerun_after_a_batch_level_failure_reaches_every_row_of_it(stack, sink, monkeypatch):
    sink.clear_outputs()
    rows = source_rows(stack)
    batch_one = nonempty(rows, batch_rows(BATCH, 1, ROWS))
    read_batch = BigQuerySource.read_batch

    def failing_read(self, batch):
        if batch.batch_id == 1:
            raise ConnectionResetError("BigQuery Storage read stream reset")
        return read_batch(self, batch)

    monkeypatch.setattr(BigQuerySource, "read_batch", failing_read)
    monkeypatch.setattr(generate_step, "generate_batch", generate_step.generate_batch.with_options(retries=0))
    state = await generate_themes(rows_limit=ROWS, batch_size=BATCH, return_state=True)
    assert state.is_failed() and "batch_ids" in state.message
    assert set(batch_one).isdisjoint(sink.theme_ids())
    assert sink.theme_ids() == set(nonempty(rows, sorted(rows)[:ROWS])) - set(batch_one)  # each other batch wrote its own
    monkeypatch.setattr(BigQuerySource, "read_batch", read_batch)
    stack.sim("reset", {})

    summary = await generate_themes(rows_limit=ROWS, batch_size=BATCH)

    # One request per text of batch one that no row of the other batches had answered.
    answered = texts_of(rows, set(nonempty(rows, sorted(rows)[:ROWS])) - set(batch_one))
    assert stack.sim("stats")["requests"] == summary.llm_calls == len(texts_of(rows, batch_one) - answered)
    assert sink.theme_ids() == set(nonempty(rows, sorted(rows)[:ROWS]))


async def test_an_edited_prompt_file_regenerates_every_row_and_the_same_file_none(stack, sink, monkeypatch, tmp_path):
    sink.clear_outputs()
    rows = source_rows(stack)
    wanted = nonempty(rows, sorted(rows)[:ROWS])
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("You label support tickets. Give short themes (1-3 words) in the ticket's language.")
    monkeypatch.setenv("THEMEGEN_PROMPT_FILE", str(prompt_file))
    await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    unchanged = await generate_themes(rows_limit=ROWS, batch_size=BATCH)
    paid = distinct_texts(rows, wanted)  # identical texts are paid once
    assert unchanged.llm_calls == 0 and stack.sim("stats")["requests"] == paid

    prompt_file.write_text(prompt_file.read_text() + " Prefer concrete nouns.")
    edited = await generate_themes(rows_limit=ROWS, batch_size=BATCH)

    assert edited.llm_calls == paid and edited.themes_written == len(wanted)
    assert stack.sim("stats")["requests"] == 2 * paid
    fingerprints = {row.prompt_fingerprint for row in sink.themes().values()}
    assert fingerprints == {prompt.Prompt(prompt_file.read_text()).fingerprint}


@pytest.mark.parametrize("content", [None, " \n\t"], ids=["missing", "empty"])
async def test_a_missing_or_empty_prompt_file_is_one_clear_error_before_any_call(stack, monkeypatch, tmp_path, content):
    stack.clear_outputs()
    prompt_file = tmp_path / "prompt.txt"
    if content is not None:
        prompt_file.write_text(content)
    monkeypatch.setenv("THEMEGEN_PROMPT_FILE", str(prompt_file))
    state = await generate_themes(rows_limit=20, return_state=True)
    assert state.is_failed() and f"THEMEGEN_PROMPT_FILE={prompt_file}" in state.message
    assert ("cannot be read" if content is None else "is empty") in state.message
    assert stack.sim("stats")["requests"] == 0


@pytest.mark.parametrize("where", ["1=1) OR (1=1", "(lang = 'en'", "lang = 'en') OR TRUE OR (1=1"])
async def test_a_filter_that_could_escape_its_parentheses_is_refused_before_any_call(stack, monkeypatch, where):
    stack.clear_outputs()
    monkeypatch.setenv("THEMEGEN_BQ_WHERE", where)
    state = await generate_themes(rows_limit=20, shard=0, shard_count=2, return_state=True)
    assert state.is_failed() and "THEMEGEN_BQ_WHERE" in state.message
    assert stack.sim("stats")["requests"] == 0 and not is_empty(where)
