"""ThemegenConfig: registered by the documented CLI command, saved and loaded through the test
Prefect server, and usable as Settings overrides."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from blocks.themegen_config import ThemegenConfig, resolve_settings
from themegen.config.settings import NESTED, Settings

# Every field set, to valid values that differ from the defaults.
FULL = ThemegenConfig(
    bq_project="other-project",
    bq_dataset="reviews",
    bq_table="app_reviews",
    bq_id_column="review_id",
    bq_text_columns=["title", "body"],
    bq_where="lang = 'ja'",
    spanner_instance="prod",
    spanner_database="themes",
    spanner_table="ReviewThemes",
    spanner_failures_table="ReviewThemeFailures",
    model="gemini-2.5-pro",
    temperature=0.5,
    max_output_tokens=512,
    prompt_version="v2",
    prompt_instructions="You label support tickets. Short themes in the ticket's language.",
    prompt_file="/etc/themegen/prompt.txt",
    rows_per_request=5,
    quality_sample_rows=100,
    judge_model="gemini-2.5-flash",
    batch_size=50,
    rpm=300,
)


def flat_names() -> set[str]:
    """Every setting by its flat name (spanner_table, rpm, ...): what overrides and blocks are keyed by."""
    names = set()
    for name, info in Settings.model_fields.items():
        names |= {f"{name}_{sub}" for sub in info.annotation.model_fields} if name in NESTED else {name}
    return names


def flat_value(settings: Settings, name: str):
    group, _, rest = name.partition("_")
    return getattr(getattr(settings, group), rest) if group in NESTED else getattr(settings, name)


def test_overrides_are_settings_fields_and_validate():
    overrides = FULL.overrides()
    assert set(overrides) == set(ThemegenConfig.model_fields)  # FULL really sets every field
    assert set(overrides) <= flat_names()
    settings = Settings().with_overrides(**overrides)
    assert {name: flat_value(settings, name) for name in overrides} == overrides


def test_unset_fields_keep_the_environment():
    assert ThemegenConfig().overrides() == {}
    assert ThemegenConfig(rpm=10).overrides() == {"rpm": 10}


def test_invalid_values_are_refused_with_the_settings_message():
    with pytest.raises(ValidationError, match="bq_table='app reviews' is not a valid identifier"):
        ThemegenConfig(bq_table="app reviews")


@pytest.mark.parametrize("bq_where", ["1=1) OR (1=1", "(1=1", "lang = 'ja'; DROP TABLE t", "EXISTS (SELECT 1)"])
def test_a_where_filter_that_is_not_one_boolean_expression_is_refused(bq_where):
    with pytest.raises(ValidationError, match="THEMEGEN_BQ_WHERE"):
        ThemegenConfig(bq_where=bq_where)


async def test_register_save_and_load(stack):
    # The documented registration command, against the stack's server (os.environ has its URL).
    done = subprocess.run([sys.executable, "-m", "prefect", "block", "register", "-m", "blocks.themegen_config"],
                          env=os.environ, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    await FULL.asave("test-round-trip", overwrite=True)
    loaded = await ThemegenConfig.aload("test-round-trip")
    assert loaded.overrides() == FULL.overrides()


async def test_a_run_takes_the_block_over_the_environment_and_its_parameters_over_the_block(stack):
    await ThemegenConfig(batch_size=7, model="gemini-2.5-pro").save("resolve-test", overwrite=True)
    settings = await resolve_settings("resolve-test", batch_size=None, model="gemini-2.5-flash-lite")
    assert (settings.batch_size, settings.model) == (7, "gemini-2.5-flash-lite")
    assert settings.spanner.database == Settings().spanner.database  # untouched: environment
    assert (await resolve_settings(None)).batch_size == Settings().batch_size
