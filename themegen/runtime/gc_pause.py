"""Fewer cyclic garbage collections while a run's batches are in flight.

Every request allocates many short-lived objects (the HTTP exchange, pydantic models, the parsed
answer), and CPython's default first-generation threshold (700 allocations) then runs a collection
every few requests, each one walking the young objects of every batch in flight. Raising the
threshold for the batches' lifetime keeps the collector from dominating a fast run's CPU (README,
"Benchmarks"); the objects are freed by reference counting anyway, and memory stays bounded by
the rows in flight. The previous thresholds come back when the batches end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


@contextmanager
def fewer_collections(young: int = YOUNG_THRESHOLD) -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(max(young, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
