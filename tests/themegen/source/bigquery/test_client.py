"""Batching against the BigQuery emulator: deterministic, complete, read once per run."""

from __future__ import annotations

import pytest

from themegen.config.settings import Settings
from local_stack.bigquery import bigquery_client
from themegen.source.bigquery.client import BigQuerySource, SourceConfigError, batch_layout, combine_text


@pytest.fixture(autouse=True)
def every_row(monkeypatch):
    """These tests cut the whole table: without the done record an earlier test's runs left (its own tests:
    tests/flows/test_nightly.py, test_done_record.py)."""
    monkeypatch.setenv("THEMEGEN_BQ_DONE_RECORD", "false")


def all_ids(source: BigQuerySource, batches) -> list[str]:
    return [row.id for batch in batches for row in source.read_batch(batch)]


@pytest.mark.parametrize("batch_size", [1, 7, 100, 299, 300, 1000])
def test_every_row_lands_in_exactly_one_batch(stack, batch_size):
    source = BigQuerySource(Settings())
    plan = source.plan(f"cover{batch_size}", batch_size)
    ids = all_ids(source, plan.batches)
    assert len(ids) == len(set(ids)) == plan.rows_total == 300
    count = -(-300 // batch_size)
    assert {b.batch_id for b in plan.batches} <= set(range(count)) and plan.batch_size == batch_size
    # a fingerprint spreads the ids: no batch is far above its share
    assert max(b.row_count for b in plan.batches) <= 2 * batch_size + 10


def test_batches_grow_so_a_run_has_at_most_max_batches():
    assert batch_layout(30_000, 100, 2_000) == (300, 100)
    assert batch_layout(10_000_000, 100, 2_000) == (2_000, 5_000)
    assert batch_layout(10_000_001, 100, 2_000) == (2_000, 5_001)
    assert batch_layout(0, 100, 2_000) == (1, 100)


def test_a_large_table_is_cut_into_at_most_max_batches(stack):
    source = BigQuerySource(Settings())
    plan = source.plan("capped", 10, max_batches=4)
    assert len(plan.batches) <= 4 and plan.batch_size == 75 and plan.rows_total == 300


def test_batches_are_deterministic_across_runs(stack):
    source = BigQuerySource(Settings())
    first, second = source.plan("runa", 40), source.plan("runb", 40)
    assert first.snapshot_table != second.snapshot_table
    strip = lambda plan: [b.model_dump(exclude={"snapshot_table"}) for b in plan.batches]  # noqa: E731
    assert strip(first) == strip(second)
    for a, b in zip(first.batches, second.batches, strict=True):
        assert [r.id for r in source.read_batch(a)] == [r.id for r in source.read_batch(b)]


def test_a_retry_of_the_same_run_reuses_its_snapshot(stack):
    source = BigQuerySource(Settings())
    assert source.plan("same", 50) == source.plan("same", 50)


def test_a_retry_keeps_its_batches_after_the_source_gained_rows(stack):
    """A retry of a flow run reuses its snapshot and layout: batch ids name the same rows."""
    client = bigquery_client(stack.config.project, stack.env["THEMEGEN_BQ_API_ENDPOINT"])
    table = f"{stack.config.project}.{stack.config.dataset}.growing"
    client.query(f"CREATE OR REPLACE TABLE `{table}` AS SELECT * FROM "
                 f"`{stack.config.project}.{stack.config.dataset}.{stack.config.table}`").result()
    source = BigQuerySource(Settings(bq_table="growing"))
    first = source.plan("growing-run", 40)
    before = {b.batch_id: [r.id for r in source.read_batch(b)] for b in first.batches}
    client.query(f"INSERT INTO `{table}` (id, text) SELECT CONCAT('new-', id), text FROM `{table}`").result()
    retry = source.plan("growing-run", 40)
    assert retry == first
    assert {b.batch_id: [r.id for r in source.read_batch(b)] for b in retry.batches} == before
    assert BigQuerySource(Settings(bq_table="growing")).plan("growing-new-run", 40).rows_total == 600


def test_row_limit_takes_the_first_rows_by_id(stack):
    source = BigQuerySource(Settings())
    full = all_ids(source, source.plan("full", 100).batches)
    limited = source.plan("lim", 10, row_limit=25)
    assert limited.rows_total == 25
    assert sorted(all_ids(source, limited.batches)) == sorted(full)[:25]


def test_where_filter_applies(stack):
    source = BigQuerySource(Settings(bq_where="lang = 'ja'"))
    plan = source.plan("ja", 100)
    assert 0 < plan.rows_total < 300


@pytest.mark.parametrize(
    ("override", "setting"),
    [({"bq_table": "nope"}, "THEMEGEN_BQ_TABLE"), ({"bq_id_column": "uid"}, "THEMEGEN_BQ_ID_COLUMN"),
     ({"bq_text_columns": ["body"]}, "THEMEGEN_BQ_TEXT_COLUMNS")],
)
def test_misconfiguration_fails_before_anything_runs_and_names_the_setting(stack, override, setting):
    with pytest.raises(SourceConfigError, match=setting):
        BigQuerySource(Settings(**override)).plan("bad", 10)


def test_several_text_columns_are_joined_and_all_null_is_none():
    assert combine_text(["title", None, "body"]) == "title\nbody"
    assert combine_text([None, None]) is None
    assert combine_text(["", None]) == ""


def test_shards_split_the_rows_disjointly_and_completely(stack):
    source = BigQuerySource(Settings())
    shards = [all_ids(source, source.plan(f"shard{k}", 50, shard=k, shard_count=3).batches) for k in range(3)]
    assert sorted(i for ids in shards for i in ids) == sorted(all_ids(source, source.plan("unsharded", 100).batches))
    assert all(len(ids) > 50 for ids in shards)  # a hash spreads 300 ids over every shard


def test_a_shard_outside_the_count_is_refused():
    with pytest.raises(ValueError, match="shard=3 is outside 0..2"):
        BigQuerySource(Settings()).plan("bad", 10, shard=3, shard_count=3)


def test_a_filter_with_an_or_stays_inside_its_shard(stack):
    """The filter is ANDed in its own parentheses: an OR in it can never widen a shard."""
    source = BigQuerySource(Settings(bq_where="lang = 'ja' OR lang = 'en'"))
    wanted = sorted(all_ids(source, source.plan("ja-or-en", 100).batches))
    shards = [set(all_ids(source, source.plan(f"ja-or-en-{k}", 100, shard=k, shard_count=2).batches))
              for k in range(2)]
    assert not shards[0] & shards[1] and sorted(shards[0] | shards[1]) == wanted and len(wanted) < 300
