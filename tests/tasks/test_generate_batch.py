"""How many batch tasks one process runs at once (the flow-level behaviour is in tests/flows)."""

from __future__ import annotations

from tasks.generate_batch import batches_at_once
from themegen.settings import Settings


def test_one_process_runs_all_parallel_batches():
    assert batches_at_once(Settings(max_parallel_batches=50)) == 50


def test_shards_together_stay_within_the_tag_limit():
    shards = 3
    per_shard = batches_at_once(Settings(max_parallel_batches=50, quota_share=shards))
    assert per_shard == 16
    assert per_shard * shards <= 50


def test_a_shard_always_runs_at_least_one_batch():
    assert batches_at_once(Settings(max_parallel_batches=2, quota_share=4)) == 1
