"""Which rows the judge sees: a seeded random sample, stratified by a key when asked (pure).

A row's place in the sample is a hash of (seed, id), so the same seed picks the same rows on every
rerun (their judgements come from the cache) and a new seed picks others. Batches hold rows by a
fingerprint of their id, so whole batches taken in a seeded order are a random share of the rows:
the sample is drawn from a few batches, not from a scan of the table."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def _rank(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()


def batch_order(batch_ids: Sequence[int], seed: int) -> list[int]:
    """The batches in the order the sample reads them."""
    return sorted(batch_ids, key=lambda batch_id: _rank(seed, f"batch:{batch_id}"))


def allocate(sizes: dict[Hashable, int], total: int) -> dict[Hashable, int]:
    """`total` split over the strata in proportion to their sizes, largest remainders first, never
    more than a stratum holds."""
    population = sum(sizes.values())
    if population <= total:
        return dict(sizes)
    exact = {key: total * size / population for key, size in sizes.items()}
    shares = {key: int(share) for key, share in exact.items()}
    for key in sorted(exact, key=lambda k: exact[k] - shares[k], reverse=True)[:total - sum(shares.values())]:
        shares[key] += 1
    return shares


def sample(items: Sequence[T], size: int, seed: int, id_of: Callable[[T], str],
           stratum_of: Callable[[T], Hashable] | None = None) -> list[T]:
    """`size` of `items` chosen at random by `seed` (all when there are fewer); with `stratum_of`,
    each stratum gets its proportional share."""
    ranked = sorted(items, key=lambda item: _rank(seed, id_of(item)))
    if stratum_of is None:
        return ranked[:size]
    strata: dict[Hashable, list[T]] = {}
    for item in ranked:
        strata.setdefault(stratum_of(item), []).append(item)
    shares = allocate({key: len(members) for key, members in strata.items()}, size)
    return [item for key, members in strata.items() for item in members[:shares[key]]]
