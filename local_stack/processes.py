"""Starting, watching and stopping the local stack's background processes.

Every part runs as its own detached process (new session, so it outlives `stack up` and can be
stopped as a whole process group). Its output goes to `<state_dir>/logs/<name>.log` and its pid to
`<state_dir>/pids/<name>.pid`; those two files are all `stack down` and error messages rely on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"
# Health checks go straight to 127.0.0.1: an HTTP(S)_PROXY from the environment must not catch them.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(RuntimeError):
    """A part of the local stack could not be started, reached or stopped."""


def log_path(state_dir: Path, name: str) -> Path:
    return Path(state_dir) / "logs" / f"{name}.log"


def pid_path(state_dir: Path, name: str) -> Path:
    return Path(state_dir) / "pids" / f"{name}.pid"


def start_process(
    name: str, argv: Sequence[str], state_dir: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start `argv` detached (own session), logging to its log file; record and return its pid."""
    log = log_path(state_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file = pid_path(state_dir, name)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    # posix_spawn rather than subprocess.Popen: these processes are meant to outlive the Popen
    # object, which would warn "subprocess is still running" when garbage-collected.
    pid = os.posix_spawnp(
        argv[0],
        list(argv),
        {**os.environ, **(env or {})},
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            # Appended: an earlier run's log stays readable after a restart.
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    pid_file.write_text(f"{pid}\n")
    return pid


def _exit_code(pid: int) -> int | None:
    """The exit code if `pid` is our child and has exited (it is reaped then), else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None  # not our child (started by an earlier `stack up`), or already reaped
    return os.waitstatus_to_exitcode(status) if done else None


def _alive(pid: int) -> bool:
    # Reap our own exited child first: a zombie still "exists" for kill(pid, 0).
    if _exit_code(pid) is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # An exited part from an earlier `stack up` belongs to init, which may reap it only seconds
    # later (measured: ~2 s here); Linux shows that state in /proc (elsewhere we cannot tell).
    # A main thread that exits before the others shows "Z" as well while the rest of the process
    # still runs and holds its ports, so only a lone zombie task counts as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        tasks = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return False
    return state == "Z" and tasks == 1


def running_pid(state_dir: Path, name: str) -> int | None:
    """The pid from the part's pid file if that process still runs as the group we started."""
    pid_file = pid_path(state_dir, name)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    # We start every part as a session leader (pgid == pid); a recycled pid belonging to an
    # unrelated process almost never matches that, so we never signal someone else's process.
    try:
        ours = _alive(pid) and os.getpgid(pid) == pid
    except ProcessLookupError:
        ours = False
    if not ours:
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def stop_process(state_dir: Path, name: str, grace_s: float = 5.0) -> bool:
    """SIGTERM the part's process group, SIGKILL it after `grace_s`; True if something ran."""
    pid = running_pid(state_dir, name)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Children that ignored SIGTERM (or the leader itself) get no second chance.
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid) and time.monotonic() < deadline + grace_s:
            time.sleep(0.05)
    pid_path(state_dir, name).unlink(missing_ok=True)
    return pid is not None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log file)"


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    log: Path | None = None,
    pid: int | None = None,
) -> None:
    """Poll `check` until true; on timeout, or when our child `pid` exits, raise with the log's end."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        code = None if pid is None else _exit_code(pid)
        if code is not None or time.monotonic() > deadline:
            reason = f"exited with code {code}" if code is not None else f"no answer after {timeout:.0f} s"
            message = f"{what}: {reason}."
            if log is not None:
                message += f"\nLog: {log}\n--- last lines ---\n{tail(log)}"
            raise StackError(message)
        time.sleep(0.1)


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on host:port (so a part can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) != 0


def free_port(host: str = HOST) -> int:
    """A port the OS considers free right now (for tests that run a stack beside another)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def http_post_json(url: str, body: dict, timeout: float = 5.0) -> int:
    """POST `body` as JSON; the HTTP status (raises when nothing answers)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json"}
    )
    with _DIRECT.open(request, timeout=timeout) as response:
        return response.status


def http_get(url: str, timeout: float = 1.0) -> tuple[int, bytes] | None:
    """Status and body of GET `url`, or None when nothing answers over HTTP there."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ValueError):
        return None
