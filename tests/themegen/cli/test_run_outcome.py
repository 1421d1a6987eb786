"""A run on a worker reports what it returned through its persisted result; a state message without
one reads as a person needs it."""

from __future__ import annotations

from pathlib import Path

from themegen.cli.run_outcome import result_env, run_message


def test_only_the_flow_s_result_is_persisted_and_where_this_process_reads_it():
    env = result_env(Path("state/results"))
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true"
    assert env["PREFECT_TASKS_DEFAULT_PERSIST_RESULT"] == "false"  # tasks as in every other run
    assert Path(env["PREFECT_LOCAL_STORAGE_PATH"]).is_absolute()  # the worker's working directory is another


def test_a_state_message_loses_the_engine_s_prefix_and_keeps_the_exception_s_type():
    message = "Flow run encountered an exception: ValueError: bad value.. here"
    assert run_message(message) == "ValueError: bad value. here"
    assert run_message("3 batches have unfinished rows") == "3 batches have unfinished rows"
    assert run_message(None) is None
