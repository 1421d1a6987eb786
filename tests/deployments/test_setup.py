"""`themegen limits apply` (and the limits part of `themegen setup`) against the stack's Prefect server:
creates, then finds everything unchanged, then updates what the settings changed; the same for the
automations setup applies."""

from __future__ import annotations

import contextlib

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectNotFound
from typer.testing import CliRunner

from deployments.setup import AUTOMATION_FILES, SetupError, apply_automation, apply_limits, load_automation
from themegen.cli.app import app
from themegen.limiter.shared import limit_specs
from themegen.config.settings import Settings

RPM_NAME, TPM_NAME = "test-apply-rpm", "test-apply-tpm"


@pytest.fixture
async def limit_names(stack):
    yield RPM_NAME, TPM_NAME
    async with get_client() as client:
        for name in (RPM_NAME, TPM_NAME):
            with contextlib.suppress(ObjectNotFound):  # a test that made only one of them
                await client.delete_global_concurrency_limit_by_name(name)


def _statuses(items) -> dict[str, str]:
    return {item.what.split("'")[1]: item.status for item in items}


async def test_apply_creates_then_leaves_then_updates(limit_names):
    settings = Settings(rpm=6_000, shared_rate_limit=RPM_NAME, tpm=1_000_000, shared_token_limit=TPM_NAME)
    first = _statuses(await apply_limits(settings))
    assert (first[RPM_NAME], first[TPM_NAME]) == ("created", "created")
    assert first["gemini"] in {"created", "found", "updated"}  # the tag limit other tests share

    assert set(_statuses(await apply_limits(settings)).values()) == {"found"}

    async with get_client() as client:
        for spec in limit_specs(settings):
            found = await client.read_global_concurrency_limit_by_name(spec.name)
            assert (found.limit, found.slot_decay_per_second) == spec.params

    faster = settings.with_overrides(rpm=12_000)
    items = await apply_limits(faster)
    assert (_statuses(items)[RPM_NAME], _statuses(items)[TPM_NAME]) == ("updated", "found")
    [rpm_item] = [item for item in items if RPM_NAME in item.what]
    limit, decay = limit_specs(settings)[0].params
    assert rpm_item.detail == f"was {limit}, {decay:g}/s"

    async with get_client() as client:  # switched off in the UI: apply switches it back on
        await client.update_global_concurrency_limit(TPM_NAME, GlobalConcurrencyLimitUpdate(active=False))
        [tpm_item] = [item for item in await apply_limits(faster) if TPM_NAME in item.what]
        assert (tpm_item.status, tpm_item.detail.endswith("inactive")) == ("updated", True)
        assert (await client.read_global_concurrency_limit_by_name(TPM_NAME)).active


async def test_apply_turns_a_decaying_limit_into_an_empty_window(limit_names):
    settings = Settings(rpm=6_000, shared_rate_limit=RPM_NAME)
    async with get_client() as client:  # as an older `limits apply` left it, with slots taken
        await client.upsert_global_concurrency_limit_by_name(RPM_NAME, limit=50, slot_decay_per_second=99.5)
        await client.update_global_concurrency_limit(RPM_NAME, GlobalConcurrencyLimitUpdate(active_slots=40))
        [item] = [item for item in await apply_limits(settings) if RPM_NAME in item.what]
        assert (item.status, item.detail) == ("updated", "was 50, 99.5/s")
        found = await client.read_global_concurrency_limit_by_name(RPM_NAME)
        assert (found.limit, found.slot_decay_per_second, found.active_slots) == (6_000, 0.0, 0)


async def test_apply_leaves_out_the_token_limit_without_tpm(limit_names):
    items = await apply_limits(Settings(shared_rate_limit=RPM_NAME))
    assert [item.what.split("'")[1] for item in items] == ["gemini", RPM_NAME]


def test_the_cli_prints_each_limit(limit_names, monkeypatch):
    monkeypatch.setenv("THEMEGEN_SHARED_RATE_LIMIT", RPM_NAME)
    monkeypatch.setenv("THEMEGEN_RPM", "1200")
    limit, decay = limit_specs(Settings())[0].params
    first = CliRunner().invoke(app, ["limits", "apply"])
    assert first.exit_code == 0, first.output
    assert f"created  global concurrency limit '{RPM_NAME}' = {limit}, slot decay {decay:g}/s (1200 RPM" in first.output
    again = CliRunner().invoke(app, ["limits", "apply"])
    assert f"found  global concurrency limit '{RPM_NAME}'" in again.output


@pytest.fixture
async def automation_name(stack):
    name = "test-apply-automation"
    yield name
    async with get_client() as client:
        for found in await client.read_automations_by_name(name):
            await client.delete_automation(found.id)


async def test_an_automation_is_created_then_found_then_put_back(automation_name):
    wanted = load_automation(AUTOMATION_FILES[0]).model_copy(update={"name": automation_name})
    async with get_client() as client:
        assert (await apply_automation(client, wanted)).status == "created"
        assert (await apply_automation(client, wanted)).status == "found"
        [current] = await client.read_automations_by_name(automation_name)
        await client.pause_automation(current.id)  # as if switched off in the UI
        assert (await apply_automation(client, wanted)).status == "updated"
        [current] = await client.read_automations_by_name(automation_name)
        assert current.enabled and current.trigger == wanted.trigger

        await client.create_automation(wanted)  # a second one of the name: setup cannot tell which
        with pytest.raises(SetupError, match="2 automations are named"):
            await apply_automation(client, wanted)
