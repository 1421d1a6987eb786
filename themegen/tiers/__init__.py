"""Inference tiers as data: what each one costs, how long it takes and how its requests are sent.

One small module per tier declares a `Tier` (standard.py, flex.py, batch.py); the code that sends
requests, prices a run or picks a tier reads these numbers and never branches on a tier's name
beyond what the data says (synchronous or not, available or not). Adding a tier is adding a file
and a line in the registry below.
"""

from __future__ import annotations

from typing import Literal

from themegen.tiers import batch, flex, standard
from themegen.tiers.tier import Tier

TIERS: dict[str, Tier] = {t.name: t for t in (standard.TIER, flex.TIER, batch.TIER)}
TIER_NAMES = tuple(TIERS)
AUTO = "auto"  # not a tier: the cheapest one that fits the deadline (choose.py)
TIER_CHOICES = (*TIER_NAMES, AUTO)
# What a person may ask for (a flow parameter's drop-down in the Prefect UI, the CLI's --tier).
TierChoice = Literal[TIER_CHOICES]  # type: ignore[valid-type]


class TierUnavailable(RuntimeError):
    """The chosen tier cannot run here; the message says which to use instead."""


def tier_named(name: str) -> Tier:
    """The registered tier `name` (a resolved one: `auto` is chosen by `choose_tier` first)."""
    try:
        return TIERS[name]
    except KeyError:
        raise ValueError(f"tier {name!r} is not one of {', '.join(TIER_NAMES)} (set THEMEGEN_TIER)") from None


def usable(tier: Tier) -> Tier:
    """The tier itself, or TierUnavailable naming what to use instead."""
    if tier.available is not None:
        raise TierUnavailable(f"tier {tier.name} is not available yet: {tier.available}")
    return tier
