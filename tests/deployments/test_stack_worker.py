"""The stack's process worker (local_stack/worker.py): `stack up` starts it with the stack's settings
and nothing else of its shell, a second `up` starts it again when it died, `down` stops it."""

from __future__ import annotations

import os
from pathlib import Path

from local_stack import worker
from local_stack.processes import free_port, running_pid, start_process, stop_process
from local_stack.stack import StackConfig, down, up


def test_the_stack_serves_the_local_pool_and_a_second_up_restarts_a_dead_worker(stack, capsys):
    state_dir, api_url = stack.config.state_dir, stack.env["PREFECT_API_URL"]
    assert running_pid(state_dir, worker.NAME) is not None and worker.worker_ready(state_dir, api_url)

    stop_process(state_dir, worker.NAME)
    assert not worker.worker_ready(state_dir, api_url)  # its pid file is gone with it
    up(stack.config)

    said = capsys.readouterr().out
    assert f"{worker.LABEL}: starting (pid" in said and f"{worker.LABEL}: ready after" in said
    assert said.count("reused") == 4  # Prefect, Spanner, BigQuery and the simulator kept running
    assert worker.worker_ready(state_dir, api_url)


def test_the_worker_keeps_the_stack_s_settings_and_drops_the_rest_of_the_shell_s(monkeypatch):
    # What `stack up` hands over: its whole environment with the stack's settings on top.
    stack_env = {"THEMEGEN_BQ_TABLE": "feedback", "PREFECT_API_URL": "http://127.0.0.1:1/api"}
    shell = {"THEMEGEN_MAX_ATTEMPTS": "1", "HOME_GROWN": "kept"}  # exported in the shell that ran `stack up`
    monkeypatch.setattr(worker, "_wait_for_prefect", lambda url: None)

    async def pool() -> str:
        return "found"

    monkeypatch.setattr(worker, "_ensure_pool", pool)
    started = {}
    monkeypatch.setattr(os, "execv", lambda path, argv: started.update(argv=argv, env=dict(os.environ)))
    saved = dict(os.environ)  # main() edits this process's environment, as the worker's own
    try:
        os.environ.update({**shell, **stack_env, **worker.WORKER_ENV, worker._STACK_KEYS: ",".join(stack_env)})
        worker.main()
    finally:
        os.environ.clear()
        os.environ.update(saved)

    themegen = {key: value for key, value in started["env"].items() if key.startswith("THEMEGEN_")}
    assert themegen == {"THEMEGEN_BQ_TABLE": "feedback"}
    assert started["env"]["HOME_GROWN"] == "kept" and started["env"]["PREFECT_WORKER_QUERY_SECONDS"] == "1"
    assert started["argv"][-6:] == ["--pool", worker.POOL, "--type", "process", "--name", worker.WORKER_NAME]


def test_down_stops_the_worker(tmp_path, capsys):
    pid = start_process(worker.NAME, ["sleep", "60"], tmp_path)  # stands in for the worker: its pid file counts
    down(StackConfig(state_dir=tmp_path, spanner_port=free_port()))  # no emulator there: nothing to save
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"stopped: {worker.NAME}"
    assert running_pid(tmp_path, worker.NAME) is None and not Path(f"/proc/{pid}").exists()
