"""`themegen setup`: the one-time Prefect objects our deployments rely on, for the current PREFECT_API_URL;
`themegen limits apply`: the concurrency and rate limits alone (setup applies them too).

Creates what is missing, updates what differs from the settings and leaves the rest alone, so running
it again changes nothing. `prefect deploy --all` needs the work pools (it refuses unknown pools) and
the image variable (a missing variable would deploy an empty image name); the zombie-run automation
marks runs whose process died Crashed. It lives here, not in the themegen library, because it knows
the deployment's pieces: our block types and the automation files next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate, VariableCreate, WorkPoolCreate
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound
from prefect.workers.utilities import get_default_base_job_template_for_infrastructure_type
from prefect_gcp import GcpCredentials, GcsBucket

from blocks.themegen_config import ThemegenConfig
from themegen.limiter import GEMINI_TAG
from themegen.limiter.shared import LimitSpec, limit_specs
from themegen.config.settings import Settings

# Work pool name -> type. Names are referenced by prefect.yaml.
WORK_POOLS = {"themegen-local": "process", "themegen-cloud-run": "cloud-run-v2"}
# Prefect variable prefect.yaml reads the Cloud Run image from; the placeholder shows what to set.
IMAGE_VARIABLE = "themegen_image"
IMAGE_PLACEHOLDER = "asia-northeast1-docker.pkg.dev/PROJECT/themegen/themegen:latest"
# Block types our deployments use: ours, and prefect-gcp's at the installed version's schema.
BLOCK_TYPES: tuple[type[Block], ...] = (ThemegenConfig, GcpCredentials, GcsBucket, Secret)
# Automations setup keeps as the files say (matched by name). notify-on-failure.yaml is not one: it
# needs the id of a notification block the user creates first.
AUTOMATION_FILES = (Path(__file__).with_name("zombie-flow-runs.yaml"),)

Status = Literal["created", "updated", "found"]


class SetupError(RuntimeError):
    """An existing object conflicts with what the deployments need."""


@dataclass(frozen=True)
class SetupItem:
    what: str
    status: Status
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status:>7}  {self.what}" + (f" ({self.detail})" if self.detail else "")


async def setup(settings: Settings | None = None) -> list[SetupItem]:
    """Ensure every object exists as configured; return what was created, updated or found."""
    settings = settings or Settings()
    async with get_client() as client:
        items = [await _work_pool(client, name, pool_type) for name, pool_type in WORK_POOLS.items()]
        items += await _limits(client, settings)
        items.append(await _variable(client, IMAGE_VARIABLE, IMAGE_PLACEHOLDER))
        items += [await _block_type(client, block) for block in BLOCK_TYPES]
        items += [await apply_automation(client, load_automation(path)) for path in AUTOMATION_FILES]
    return items


async def apply_limits(settings: Settings | None = None) -> list[SetupItem]:
    """The `gemini` tag limit and the Gemini rate limits, as the settings say."""
    async with get_client() as client:
        return await _limits(client, settings or Settings())


async def _limits(client: PrefectClient, settings: Settings) -> list[SetupItem]:
    # The RPM limit always (workers opt in by naming it), the TPM one when there is a TPM quota.
    items = [await _tag_limit(client, GEMINI_TAG, settings.max_parallel_batches)]
    return items + [await _rate_limit(client, spec) for spec in limit_specs(settings)]


async def _work_pool(client: PrefectClient, name: str, pool_type: str) -> SetupItem:
    what = f"work pool {name!r} ({pool_type})"
    try:
        pool = await client.read_work_pool(name)
    except ObjectNotFound:
        # The worker type's own default job template, as `prefect work-pool create --type` uses;
        # the deployments set their job variables on top of it.
        template = await get_default_base_job_template_for_infrastructure_type(pool_type)
        await client.create_work_pool(WorkPoolCreate(name=name, type=pool_type, base_job_template=template))
        return SetupItem(what, "created")
    if pool.type != pool_type:
        raise SetupError(f"work pool {name!r} exists with type {pool.type!r}, expected {pool_type!r}: "
                         f"delete it (prefect work-pool delete {name}) and run setup again")
    return SetupItem(what, "found")


async def _tag_limit(client: PrefectClient, tag: str, limit: int) -> SetupItem:
    what = f"tag concurrency limit {tag!r} = {limit}"
    try:
        current = (await client.read_concurrency_limit_by_tag(tag)).concurrency_limit
    except ObjectNotFound:
        current = None
    if current == limit:
        return SetupItem(what, "found")
    await client.create_concurrency_limit(tag=tag, concurrency_limit=limit)  # creates or replaces
    return SetupItem(what, "created" if current is None else "updated", "" if current is None else f"was {current}")


async def _rate_limit(client: PrefectClient, spec: LimitSpec) -> SetupItem:
    limit, decay = spec.params
    what = (f"global concurrency limit {spec.name!r} = {limit}, slot decay {decay:g}/s "
            f"({spec.quota} {spec.unit}, a 60-s window)")
    try:
        current: GlobalConcurrencyLimitResponse | None = await client.read_global_concurrency_limit_by_name(spec.name)
    except ObjectNotFound:
        current = None
    if current is None:
        await client.upsert_global_concurrency_limit_by_name(spec.name, limit=limit, slot_decay_per_second=decay)
        return SetupItem(what, "created")
    if (current.limit, current.slot_decay_per_second, current.active) == (limit, decay, True):
        return SetupItem(what, "found")
    # Slots taken from a decaying limit have no lease to give them back: in a window (no decay)
    # they would stay taken for good.
    reset = {"active_slots": 0} if current.slot_decay_per_second and not decay else {}
    await client.update_global_concurrency_limit(
        spec.name, GlobalConcurrencyLimitUpdate(limit=limit, slot_decay_per_second=decay, active=True, **reset)
    )
    was = f"was {current.limit}, {current.slot_decay_per_second:g}/s" + ("" if current.active else ", inactive")
    return SetupItem(what, "updated", was)


async def _variable(client: PrefectClient, name: str, placeholder: str) -> SetupItem:
    # Never overwritten: once the user has set the real image, setup must not undo it.
    if (variable := await client.read_variable_by_name(name)) is not None:
        return SetupItem(f"variable {name!r}", "found", str(variable.value))
    await client.create_variable(VariableCreate(name=name, value=placeholder))
    return SetupItem(f"variable {name!r}", "created", f"{placeholder}; set the real image with "
                                                  f"`prefect variable set {name} IMAGE --overwrite`")


async def _block_type(client: PrefectClient, block: type[Block]) -> SetupItem:
    what = f"block type {block.get_block_type_slug()!r}"
    try:
        # The schema checksum covers every field, so "found" means this exact version is registered.
        await client.read_block_schema_by_checksum(block._calculate_schema_checksum(), block.get_block_schema_version())
        return SetupItem(what, "found")
    except ObjectNotFound:
        await block.aregister_type_and_schema(client=client)
        return SetupItem(what, "created")


def load_automation(path: Path) -> AutomationCore:
    """An automation file as `prefect automation create --from-file` reads it."""
    return AutomationCore.model_validate(yaml.safe_load(path.read_text()))


async def apply_automation(client: PrefectClient, wanted: AutomationCore) -> SetupItem:
    """Create the automation, or make the one of that name match it (an edit in the UI is undone)."""
    what = f"automation {wanted.name!r}"
    found = await client.read_automations_by_name(wanted.name)
    if not found:
        await client.create_automation(wanted)
        return SetupItem(what, "created")
    if len(found) > 1:
        raise SetupError(f"{len(found)} automations are named {wanted.name!r}: delete all but one "
                         f"(prefect automation delete --id ID) and run setup again")
    [current] = found
    # Compared as AutomationCore: the server adds an id, and sets (expect, after) have no order.
    if AutomationCore.model_validate(current.model_dump()) == wanted:
        return SetupItem(what, "found")
    await client.update_automation(current.id, wanted)
    return SetupItem(what, "updated")
