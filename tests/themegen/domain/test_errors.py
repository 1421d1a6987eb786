"""Error messages name the environment variable a person sets, without request ids or doubled periods;
a flow run with invalid settings says the same in its state message."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from themegen.domain.errors import InvalidSettings, sentence, tidy, user_message
from themegen.config.settings import Settings


def test_request_ids_and_doubled_periods_are_removed():
    spanner = ("Database not found: projects/p/instances/i/databases/nodb, "
               "request_id = 1.14736632277911291414.1.0.1.1. Check THEMEGEN_SPANNER_DATABASE")
    assert tidy(spanner) == "Database not found: projects/p/instances/i/databases/nodb. Check THEMEGEN_SPANNER_DATABASE"
    assert f"{sentence('API key not valid. Please pass a valid API key.')}. Check" == (
        "API key not valid. Please pass a valid API key. Check")
    assert tidy("API key.. Check") == "API key. Check" and tidy("wait... and see") == "wait... and see"


def _invalid(**values) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    return caught.value


def test_an_environment_value_is_named_by_its_variable(monkeypatch):
    monkeypatch.setenv("THEMEGEN_RPM", "-5")
    assert user_message(_invalid()) == "THEMEGEN_RPM=-5: Input should be greater than or equal to 1"


def test_a_value_not_from_the_environment_names_the_field_and_the_variable(monkeypatch):
    monkeypatch.delenv("THEMEGEN_ROWS_PER_REQUEST", raising=False)
    assert user_message(_invalid(rows_per_request=0)) == (
        "rows_per_request=0 (flow parameter, ThemegenConfig block or THEMEGEN_ROWS_PER_REQUEST): "
        "Input should be greater than or equal to 1")


def test_a_message_that_names_its_variable_is_kept_as_it_is(monkeypatch):
    monkeypatch.setenv("THEMEGEN_BQ_TABLE", "a b")
    message = user_message(_invalid())
    assert message.startswith("bq_table='a b' is not a valid identifier") and message.endswith("(set THEMEGEN_BQ_TABLE)")


@pytest.mark.parametrize(("variable", "value", "starts"), [
    ("THEMEGEN_GCP_PROJECT", "Bad_Project", "THEMEGEN_GCP_PROJECT=Bad_Project: gcp_project='Bad_Project' is not"),
    ("THEMEGEN_BQ_TEXT_COLUMNS", "[]", "THEMEGEN_BQ_TEXT_COLUMNS=[]: bq_text_columns is empty"),
])
def test_a_message_without_the_variable_gets_it_in_front(monkeypatch, variable, value, starts):
    monkeypatch.setenv(variable, value)
    assert user_message(_invalid()).startswith(starts)


def test_a_list_that_is_not_json_names_its_variable(monkeypatch):
    monkeypatch.setenv("THEMEGEN_BQ_TEXT_COLUMNS", "text")
    with pytest.raises(Exception) as caught:
        Settings()
    assert user_message(caught.value).startswith("THEMEGEN_BQ_TEXT_COLUMNS cannot be parsed")


def test_an_unexpected_error_keeps_its_type_name():
    assert user_message(KeyError("x")) == "KeyError: 'x'"
    assert user_message(InvalidSettings("THEMEGEN_RPM=-5: bad")) == "THEMEGEN_RPM=-5: bad"


async def test_a_flow_run_with_invalid_settings_says_which_variable(stack, monkeypatch):
    from flows.generate_themes import generate_themes

    monkeypatch.setenv("THEMEGEN_RPM", "-5")
    state = await generate_themes(rows_limit=5, return_state=True)
    assert state.is_failed()
    assert state.message.endswith("InvalidSettings: THEMEGEN_RPM=-5: Input should be greater than or equal to 1")
