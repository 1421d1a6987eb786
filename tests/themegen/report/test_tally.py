from themegen.domain.models import BatchResult, LlmUsage
from themegen.report.tally import RunTally


def test_each_batch_lands_in_the_timeline_over_the_seconds_it_ran():
    tally = RunTally()
    tally.add(BatchResult(batch_id=0, rows=40, answered=40, seconds=1.0, usage=LlmUsage(calls=40, http_429=4)), at_s=2.0)
    tally.add(BatchResult(batch_id=1, rows=20, not_started=True, error="not started: quota"), at_s=2.0)
    timeline = tally.timeline
    assert timeline.end_s == 2.0 and timeline.buckets_used() == 8
    assert timeline.rows[:8] == [0, 0, 0, 0, 10, 10, 10, 10]  # 1.0-2.0 s; the batch never started adds none
    assert sum(timeline.http_429) == 4


def test_the_tally_times_batches_from_its_own_start_by_default():
    tally = RunTally()
    tally.add(BatchResult(batch_id=0, rows=5, answered=5, seconds=0.0))
    assert 0 <= tally.timeline.end_s < 5 and sum(tally.timeline.rows) == 5


def test_many_batches_over_a_long_run_keep_the_tally_the_same_size():
    def tally_of(batches: int) -> RunTally:
        tally = RunTally()
        for b in range(batches):
            tally.add(BatchResult(batch_id=b, rows=1_000, answered=1_000, seconds=20.0,
                                  usage=LlmUsage(calls=1_000, http_429=b % 5)), at_s=20.0 + b)
        return tally

    short, long = tally_of(100), tally_of(50_000)
    assert len(long.timeline.rows) == len(short.timeline.rows) == 60
    assert sum(long.timeline.rows) == 50_000_000 and long.timeline.buckets_used() <= 60
    assert len(long.model_dump_json()) - len(short.model_dump_json()) < 1_000  # counts' digits, not entries
