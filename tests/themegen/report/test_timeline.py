from themegen.report.timeline import RunTimeline


def test_a_batch_is_spread_over_the_buckets_it_ran_in_with_whole_counts():
    t = RunTimeline()  # 0.25-s buckets
    t.add(start_s=0.0, end_s=1.0, rows=12, http_429=3)
    assert t.rows[:4] == [3, 3, 3, 3] and sum(t.rows) == 12
    assert sum(t.http_429) == 3 and max(t.http_429) == 1  # whole 429s, none lost to rounding
    assert t.buckets_used() == 4 and t.rows_per_second() == [12.0] * 4


def test_a_batch_ending_on_a_bucket_boundary_counts_in_the_bucket_it_ends():
    t = RunTimeline()
    t.add(start_s=0.5, end_s=0.5, rows=7, http_429=0)
    assert t.rows[1] == 7 and t.buckets_used() == 2


def test_the_last_bucket_rate_uses_only_the_time_the_run_spent_in_it():
    t = RunTimeline()
    t.add(start_s=0.0, end_s=0.3, rows=30, http_429=0)  # bucket 1 holds 0.05 s of the run
    assert t.buckets_used() == 2 and t.seconds_covered(1) == 0.3 - 0.25
    assert t.rows_per_second() == [25 / 0.25, 5 / (0.3 - 0.25)]


def test_a_long_run_halves_the_resolution_and_keeps_every_count():
    t = RunTimeline()
    t.add(start_s=0.0, end_s=15.0, rows=600, http_429=60)  # fills the 60 quarter-second buckets
    t.add(start_s=15.0, end_s=15.1, rows=5, http_429=1)
    assert t.bucket_s == 0.5 and t.rows[:2] == [20, 20] and t.rows[30] == 5
    assert (sum(t.rows), sum(t.http_429), t.buckets_used()) == (605, 61, 31)


def test_the_series_stays_bounded_however_long_the_run_and_however_many_batches():
    t = RunTimeline()
    size_after_one_batch = None
    for b in range(100_000):  # one batch ending every 3 s, for 83 hours
        t.add(start_s=3.0 * b, end_s=3.0 * b + 2.5, rows=1_000, http_429=b % 7)
        if b == 0:
            size_after_one_batch = len(t.model_dump_json())
    assert len(t.rows) == len(t.http_429) == RunTimeline.BUCKETS
    assert t.bucket_s == 0.25 * 2 ** 15 and t.buckets_used() <= RunTimeline.BUCKETS
    assert sum(t.rows) == 100_000 * 1_000 and sum(t.http_429) == sum(b % 7 for b in range(100_000))
    assert len(t.model_dump_json()) < size_after_one_batch + 60 * 2 * 8  # only the counts' digits grew
