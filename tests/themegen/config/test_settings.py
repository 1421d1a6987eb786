import pytest
from pydantic import ValidationError

from themegen.config.settings import Settings


@pytest.fixture(autouse=True)
def no_themegen_env(monkeypatch):
    """These tests check defaults and validation, not whatever stack the session started."""
    import os

    for key in [k for k in os.environ if k.startswith("THEMEGEN_")]:
        monkeypatch.delenv(key)


def test_env_prefix_and_overrides(monkeypatch):
    monkeypatch.setenv("THEMEGEN_BATCH_SIZE", "200")
    monkeypatch.setenv("THEMEGEN_BQ_TEXT_COLUMNS", '["title", "body"]')
    settings = Settings()
    assert settings.batch_size == 200
    assert settings.bq.text_columns == ["title", "body"]
    assert settings.with_overrides(batch_size=50, rpm=None).batch_size == 50
    assert settings.with_overrides(rpm=None).rpm == settings.rpm


@pytest.mark.parametrize(
    ("field", "value"),
    [("bq_table", "feedback; DROP TABLE x"), ("bq_id_column", "id`"), ("bq_dataset", "a.b"),
     ("spanner_table", "Themes--"), ("bq_text_columns", ["text", "x y"]), ("bq_text_columns", [])],
)
def test_identifiers_are_validated(field, value):
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_where_filter_must_be_one_expression():
    assert Settings(bq_where="lang = 'ja'").bq.where == "lang = 'ja'"
    with pytest.raises(ValidationError, match="one boolean SQL expression"):
        Settings(bq_where="TRUE; DELETE FROM t")


@pytest.mark.parametrize("value", ["1=1) OR (1=1", "(lang = 'ja'", "EXISTS (SELECT 1)", "lang = 'ja' -- x"])
def test_a_where_filter_from_the_environment_that_could_widen_a_shard_is_refused(monkeypatch, value):
    monkeypatch.setenv("THEMEGEN_BQ_WHERE", value)
    with pytest.raises(ValidationError, match="THEMEGEN_BQ_WHERE"):
        Settings()


def test_a_where_filter_from_the_environment_is_kept_stripped_and_empty_means_none(monkeypatch):
    monkeypatch.setenv("THEMEGEN_BQ_WHERE", "  note = 'a (b'  ")
    assert Settings().bq.where == "note = 'a (b'"
    monkeypatch.setenv("THEMEGEN_BQ_WHERE", "  ")
    assert Settings().bq.where is None
    with pytest.raises(ValidationError, match="THEMEGEN_BQ_WHERE"):  # overrides are validated too
        Settings().with_overrides(bq_where="1=1) OR (1=1")


def test_api_key_backend_needs_a_key():
    with pytest.raises(ValidationError, match="THEMEGEN_GEMINI_API_KEY"):
        Settings(gemini_backend="api_key")


def test_override_is_validated():
    with pytest.raises(ValidationError):
        Settings().with_overrides(batch_size=0)


def test_a_batch_is_100_requests_of_rows_unless_batch_size_is_set():
    settings = Settings()
    assert settings.rows_per_batch == 100
    assert settings.with_overrides(rows_per_request=10).rows_per_batch == 1000
    assert settings.with_overrides(rows_per_request=10, batch_size=100).rows_per_batch == 100
    assert settings.with_overrides(rows_per_request=50).rows_per_batch == 5000


def test_the_quality_sample_is_stratified_by_language_or_a_column_name():
    assert Settings(quality_stratify="language").stratify_column is None
    assert Settings(quality_stratify="lang").stratify_column == "lang"
    with pytest.raises(ValidationError, match="THEMEGEN_QUALITY_STRATIFY"):
        Settings(quality_stratify="lang; DROP TABLE x")
