"""bench/steps.py: a flow run's wall time by step, from its task runs (pure part)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bench.steps import steps_of

T0 = datetime(2026, 12, 7, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_step_spans_its_task_runs_and_other_is_the_rest():
    runs = [("check-config-1a2", at(0.2), at(0.5)), ("create-batches-3b4", at(0.5), at(2.5)),
            ("batch-0", at(2.6), at(10.0)), ("batch-1", at(2.7), at(21.0)), ("batch-2", at(5.0), at(20.0)),
            ("upsert-themes-5c6", at(21.1), at(21.1)), ("publish-report-7d8", at(21.2), at(21.5)),
            ("batch-3", at(6.0), None)]  # not finished (or not recorded yet): left out
    steps = steps_of(at(0), at(22.0), runs)
    assert steps == {"check_config": 0.3, "create_batches": 2.0, "generate": 18.4, "upsert": 0.0, "report": 0.3,
                     "flow": 22.0, "other": 1.0}
