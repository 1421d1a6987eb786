"""The stack's Prefect process worker: it runs every flow run of the `themegen-local` work pool, so
`themegen run`, a Retry in the UI and `prefect deployment run` all have a worker while the stack is up.

`stack up` starts `python -m local_stack.worker`, which waits for the stack's Prefect server, creates
the work pool if it is missing (the way `themegen setup` does) and then becomes `prefect worker start`.
Its settings are the stack's (stack.env) and nothing else of the shell that ran `stack up`: a
`THEMEGEN_*` variable exported there must not become the silent default of every later run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from local_stack.processes import pid_path, start_process

NAME = "worker"
POOL = "themegen-local"
LABEL = f"Prefect: process worker (pool {POOL})"
WORKER_NAME = "themegen-stack-worker"  # one per stack: each stack has its own Prefect server
_STACK_KEYS = "THEMEGEN_STACK_ENV_KEYS"  # the settings the worker keeps (the rest of THEMEGEN_* goes)
# Polling every second instead of Prefect's 10 s: a `themegen run` waits for the pickup, and a local
# server answers the extra queries at no cost worth counting.
WORKER_ENV = {"PREFECT_WORKER_QUERY_SECONDS": "1"}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only, never a proxy


def start_worker(state_dir: Path, stack_env: dict[str, str]) -> int:
    """Start the worker process (it becomes ready once `worker_ready`); returns its pid."""
    env = {**stack_env, **WORKER_ENV, _STACK_KEYS: ",".join(stack_env)}
    return start_process(NAME, [sys.executable, "-m", "local_stack.worker"], state_dir, env=env)


def worker_ready(state_dir: Path, api_url: str) -> bool:
    """Our worker has sent a heartbeat since its process started (the server may still list the
    worker of an earlier `stack up` as online for a while)."""
    try:
        started = pid_path(state_dir, NAME).stat().st_mtime
        request = urllib.request.Request(
            f"{api_url}/work_pools/{POOL}/workers/filter", data=b"{}", method="POST",
            headers={"content-type": "application/json"})  # fmt: skip
        with _DIRECT.open(request, timeout=2) as response:
            workers = json.load(response)
    except (OSError, ValueError):
        return False
    return any(
        worker["name"] == WORKER_NAME and worker["status"] == "ONLINE" and worker["last_heartbeat_time"]
        and datetime.fromisoformat(worker["last_heartbeat_time"].replace("Z", "+00:00")).timestamp() >= started - 1
        for worker in workers
    )  # fmt: skip


async def _ensure_pool() -> str:
    from prefect.client.orchestration import get_client

    from deployments.setup import WORK_POOLS, _work_pool

    async with get_client() as client:
        return str(await _work_pool(client, POOL, WORK_POOLS[POOL]))


def _wait_for_prefect(api_url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with _DIRECT.open(f"{api_url}/health", timeout=2) as response:
                if response.read().strip() == b"true":
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the Prefect server at {api_url} did not answer in {timeout_s:.0f} s")
        time.sleep(0.2)


def main() -> None:
    keep = set(os.environ.pop(_STACK_KEYS, "").split(","))
    for key in [key for key in os.environ if key.startswith("THEMEGEN_") and key not in keep]:
        del os.environ[key]
    _wait_for_prefect(os.environ["PREFECT_API_URL"])  # started side by side with the server
    print(asyncio.run(_ensure_pool()), flush=True)
    # exec: the pid `stack down` stops stays the worker's own.
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process",
            "--name", WORKER_NAME]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
