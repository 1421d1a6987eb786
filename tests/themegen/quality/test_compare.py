"""The pairwise decision (pure): both orders combined, the sequential interval, its early stop."""

import json

import pytest

from themegen.quality.compare import PairRow, combine, decide, look_z, looks_for, parse_preferences


@pytest.mark.parametrize(("a_first", "b_first", "outcome"), [
    ("1", "2", "a"), ("2", "1", "b"), ("1", "1", "tie"), ("2", "2", "tie"), ("same", "2", "tie"), ("same", "same", "tie"),
])
def test_a_row_counts_for_a_side_only_when_both_orders_prefer_it(a_first, b_first, outcome):
    # "1" in both orders is a judge that always picks the first position: a tie, not a winner
    assert combine(a_first, b_first) == outcome


def test_the_decision_waits_for_the_interval_to_leave_one_half():
    z = look_z(looks_for(1000, 100))  # ten looks at 0.5% each
    assert 2.8 < z < 2.81
    assert decide(0, 47, 53, z).winner == "b"
    assert decide(30, 20, 50, z).winner is None  # 60% of 50 decided rows is not clear yet
    assert decide(0, 0, 100, z).winner is None and decide(0, 0, 100, z).share_a is None


def test_without_a_difference_a_winner_is_rare_across_seeds():
    # Coin-flip preferences (no real difference), looked at every 100 rows up to 1,000.
    import random

    z, false_winners = look_z(10), 0
    for seed in range(200):
        rng, a, b = random.Random(seed), 0, 0
        for look in range(10):
            for _ in range(100):
                outcome = rng.random()
                a, b = a + (outcome < 0.3), b + (0.3 <= outcome < 0.6)
            if decide(a, b, 0, z).winner:
                false_winners += 1
                break
    assert false_winners <= 10  # <= 5% of 200


def test_preferences_are_read_per_row():
    rows = [PairRow("x", "t", ("a",), ("b",)), PairRow("y", "t", ("a",), ("b",))]
    found = parse_preferences(json.dumps({"preferences": [{"id": "x", "better": "2"}, {"id": "y", "better": "A"}]}), rows)
    assert found["x"] == "2" and "no usable preference" in str(found["y"])
