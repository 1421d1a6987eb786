"""fewer_collections: the young-generation threshold raised while the batches run, restored after."""

from __future__ import annotations

import gc

import pytest

from themegen.runtime.gc_pause import YOUNG_THRESHOLD, fewer_collections


def test_threshold_is_raised_inside_and_restored_after_even_on_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with fewer_collections():
            assert gc.get_threshold() == (max(YOUNG_THRESHOLD, before[0]), *before[1:])
            raise RuntimeError("a batch's error")
    assert gc.get_threshold() == before


def test_a_higher_threshold_set_by_the_user_is_kept():
    before = gc.get_threshold()
    gc.set_threshold(50_000, *before[1:])
    try:
        with fewer_collections():
            assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*before)
