"""What the `themegen` CLI shows in a terminal: one message per error (the traceback goes to a log
file, and to the terminal only with --debug), and Prefect's own log lines only from WARNING up.

Prefect's run logs keep going to the Prefect API (the UI) unchanged; only the terminal is quieter.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
import traceback
from pathlib import Path

import httpx
import typer

from themegen.domain.errors import is_expected, user_message

STACK_HINT = "start the local stack with `themegen stack up`, or set PREFECT_API_URL to your Prefect server's API"
# The engine's own records of a failing run (the exception with its traceback, "Finished in state
# Failed(...)"): the CLI says the same in one line, so the terminal does not repeat them.
_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class PrefectUnreachable(RuntimeError):
    """No Prefect API to run a flow against; the message says how to get one."""


def log_file(state_dir: Path) -> Path:
    return state_dir / "logs" / "themegen.log"


class _TerminalFilter(logging.Filter):
    """Prefect records below WARNING, and a run's ERROR records, stay out of the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("prefect"):
            return True
        if record.levelno < logging.WARNING:
            return False  # per-task "Finished in state Completed()" lines: the UI keeps them
        return not (record.levelno >= logging.ERROR and record.name.startswith(_RUN_LOGGERS))


def configure_logging(state_dir: Path, debug: bool) -> None:
    """Quiet Prefect's console handler (unless debug) and copy every record to the log file.

    Called after Prefect set up its logging (on import), which replaces the root handlers.
    """
    import prefect.logging  # noqa: F401  (sets up Prefect's handlers first)
    from prefect.logging.handlers import PrefectConsoleHandler

    root = logging.getLogger()
    if not debug:
        for handler in root.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.addFilter(_TerminalFilter())
    path = log_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A 30k-row run logs ~1 MB (a line per task run): keep the last few runs, not all of them.
    to_file = logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=2, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
    root.addHandler(to_file)


def report_error(error: BaseException, state_dir: Path, debug: bool) -> None:
    """Print the one message on stderr; the traceback goes to the log file (and stderr with debug)."""
    trace = "".join(traceback.format_exception(error))
    path = log_file(state_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} themegen {' '.join(sys.argv[1:])}\n{trace}\n")
        where = f"--debug or {path}"
    except OSError:
        where = "--debug"
    if debug:
        typer.echo(trace, err=True)
    typer.secho(f"Error: {user_message(error)}", fg=typer.colors.RED, err=True)
    if not debug and not is_expected(error):
        typer.echo(f"(the traceback: {where})", err=True)


def require_prefect_api() -> str:
    """The Prefect API URL, checked to answer, before a flow run needs it (Prefect's client would
    retry for minutes and end in three tracebacks)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectUnreachable(f"PREFECT_API_URL is not set: {STACK_HINT}")
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5)  # any HTTP answer will do (Prefect Cloud: 401)
    except httpx.HTTPError as error:
        raise PrefectUnreachable(f"the Prefect API at {url} does not answer ({type(error).__name__}): {STACK_HINT}") from error
    return url
