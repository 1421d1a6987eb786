from collections import Counter

from themegen.quality.sample import allocate, batch_order, sample

IDS = [f"r{i:04d}" for i in range(1000)]


def test_the_same_seed_picks_the_same_rows_and_another_seed_others():
    first = sample(IDS, 100, seed=1, id_of=str)
    assert sample(list(reversed(IDS)), 100, seed=1, id_of=str) == first  # order of reading does not matter
    assert len(set(first)) == 100 and len(set(first) & set(sample(IDS, 100, seed=2, id_of=str))) < 40
    assert sorted(sample(IDS[:50], 100, seed=1, id_of=str)) == IDS[:50]  # fewer rows than asked: all of them


def test_a_stratified_sample_keeps_each_strata_share():
    lang = {i: ("ja" if n % 4 == 0 else "en") for n, i in enumerate(IDS)}  # 25% ja
    chosen = sample(IDS, 200, seed=3, id_of=str, stratum_of=lang.__getitem__)
    assert len(chosen) == 200 and Counter(lang[i] for i in chosen) == {"ja": 50, "en": 150}


def test_allocation_is_proportional_and_adds_up():
    # exact shares 0.5, 1.0, 3.5: the two halves go by largest remainder (ties in order), 5 in all
    assert allocate({"a": 1, "b": 2, "c": 7}, 5) == {"a": 1, "b": 1, "c": 3}
    assert sum(allocate({"a": 333, "b": 333, "c": 334}, 400).values()) == 400
    assert allocate({"a": 3, "b": 4}, 400) == {"a": 3, "b": 4}


def test_batches_are_read_in_a_seeded_order():
    assert sorted(batch_order(range(10), 5)) == list(range(10))
    assert batch_order(range(10), 5) == batch_order(range(10), 5) != batch_order(range(10), 6)
