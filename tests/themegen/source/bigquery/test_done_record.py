"""The done record's SQL on the BigQuery emulator: the source hash tells every change apart, and the
snapshot's layout survives ids that need quoting."""

from __future__ import annotations

from local_stack.bigquery import seed_table
from themegen.config.settings import Settings
from themegen.source.bigquery import done_record
from themegen.source.bigquery.client import BigQuerySource


def _hashes(stack, columns: list[str], rows: list[dict]) -> dict[str, str]:
    client = stack.bigquery()
    table = f"{stack.config.project}.{stack.config.dataset}.hashes"
    seed_table(client, table, rows)
    texts = ", ".join(f"CAST({c} AS STRING) AS text_{i}" for i, c in enumerate(columns))
    sql = (f"SELECT id, {done_record.source_hash_sql(len(columns))} AS h FROM (SELECT id, {texts} FROM `{table}`)")
    return {r["id"]: r["h"] for r in client.query(sql).result()}


def test_the_source_hash_changes_with_any_text_column_and_tells_null_from_empty(stack):
    found = _hashes(stack, ["text", "lang"], [
        {"id": "a", "text": "ab", "lang": "c"}, {"id": "b", "text": "a", "lang": "bc"},  # same letters, other border
        {"id": "c", "text": None, "lang": "x"}, {"id": "d", "text": "", "lang": "x"},  # NULL is not ''
        {"id": "e", "text": "ab", "lang": "c"},  # same columns as a: same hash
        {"id": "f", "text": "ab", "lang": "d"},  # second column edited
    ])
    assert found["a"] == found["e"]
    assert len({found[i] for i in "abcdf"}) == 5


def test_a_snapshot_keeps_its_layout_when_an_example_id_needs_quoting(stack, monkeypatch):
    client = stack.bigquery()
    table = "quoted"
    seed_table(client, f"{stack.config.project}.{stack.config.dataset}.{table}",
               [{"id": "it's\\odd", "text": None}, {"id": "plain", "text": "a text"}])
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", table)
    settings = Settings()
    source = BigQuerySource(settings)
    source.plan("quoted_first", 10)  # creates the record table
    entry = done_record.DoneEntry("it's\\odd", _row_hash(source, "it's\\odd"), "failed", reason="input")
    source.record([entry])
    plan = source.plan("quoted_run", 10)
    assert plan.failed_earlier == {"input": 1} and plan.failed_earlier_examples == {"input": "it's\\odd"}
    assert source.plan("quoted_run", 10) == plan  # the retry reads the same layout back
    stack.drop_done_record()


def _row_hash(source: BigQuerySource, row_id: str) -> str:
    plan = source.plan(f"hash_of_{abs(hash(row_id))}", 10, use_record=False)
    return next(r.source_hash for b in plan.batches for r in source.read_batch(b) if r.id == row_id)


def test_each_sink_database_has_its_own_entries_and_no_password_goes_into_them():
    spanner = done_record.sink_identity(Settings(spanner_database="a"))
    assert spanner != done_record.sink_identity(Settings(spanner_database="b"))
    one, other = (done_record.sink_identity(Settings(sink="postgres", postgres_dsn=f"postgresql://u:secret@h:5432/{db}"))
                  for db in ("one", "other"))
    assert one != other and one.startswith("postgres:")
    same_db = done_record.sink_identity(Settings(sink="postgres", postgres_dsn="postgresql://u:other@h2:6543/one"))
    assert same_db == one  # another host, user or password: the same database's rows
