"""`themegen run`: start the flow run (on the stack's worker, or --in-process), follow it, and say how
it ended: the tables on stdout (stderr with --json), then every message about the outcome on stderr.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console

from themegen.cli.output import log_file
from themegen.cli.run_outcome import RunOutcome, outcome_of, result_env
from themegen.domain.errors import tidy
from themegen.domain.models import RunSummary
from themegen.report.tables import rows_to_theme
from themegen.runtime import sigterm

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


def flow_run_url(flow_run_id: str | None) -> str | None:
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui and flow_run_id else None


def run_in_process(parameters: dict[str, Any]) -> RunOutcome:
    """Today's debugging path: the flow in this process, its counters drawn by ProgressLine."""
    from flows.generate_themes import generate_themes
    from themegen.cli.progress_line import ProgressLine

    with ProgressLine():
        try:
            state = asyncio.run(generate_themes(**parameters, return_state=True))
        except asyncio.CancelledError:
            if not sigterm.received():
                raise
            # The guard cancelled the run's task (themegen/runtime/sigterm.py); Prefect recorded it Crashed.
            print("themegen: ended by SIGTERM; the flow run is Crashed in Prefect. Every answered row is in the "
                  "sink or the row cache: retry the flow run or run again, and only unanswered rows are sent.",
                  file=sys.stderr, flush=True)
            raise typer.Exit(sigterm.EXIT_CODE) from None
    data = state.result(raise_on_failure=False)
    return RunOutcome(str(state.state_details.flow_run_id), state.name, state.is_completed(),
                      tidy(state.message) if state.message else None,
                      data if isinstance(data, RunSummary) else None,
                      error=data if isinstance(data, BaseException) else None)


def run_on_worker(parameters: dict[str, Any], stack_keys: list[str], api_url: str, state_dir: Path,
                  patience_s: float) -> RunOutcome:
    """A run of the deployment, followed to its end; Ctrl-C cancels it (typer.Exit(130)). An API that
    does not answer for `patience_s` ends the following with one error naming it."""
    from prefect.client.orchestration import get_client

    from themegen.cli.deployment_run import PrefectApiLost, RunLine, cancel, follow, run_env, start_run

    results_dir = state_dir / "results"
    flow_run = asyncio.run(start_run(parameters, run_env(stack_keys) | result_env(results_dir), api_url))
    try:
        with RunLine() as line:
            finished = asyncio.run(follow(flow_run.id, line, patience_s))
    except KeyboardInterrupt:
        stopped = asyncio.run(cancel(flow_run.id))
        typer.secho(f"Ctrl-C: flow run {stopped.name} {stopped.state.name.lower()} on the worker. The rows it "
                    f"finished are kept: `themegen run` again sends only the rest.", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(INTERRUPTED) from None
    except (httpx.HTTPError, OSError) as error:  # follow() waited patience_s for the API
        raise PrefectApiLost(
            f"the Prefect API at {api_url} has not answered for {patience_s:g} s ({type(error).__name__}; "
            f"THEMEGEN_ORCHESTRATOR_TIMEOUT_S), so this command stops following flow run {flow_run.name}. The run's "
            f"own process stops within the same bound once its batches are written: rows it answered are in the "
            f"sink or the row cache, and a retry or a new run sends only the rest.") from error

    async def read() -> RunOutcome:
        async with get_client() as client:
            return await outcome_of(client, finished, results_dir)

    return asyncio.run(read())


def show(console: Console, outcome: RunOutcome, failures_table: str) -> None:
    """The run's tables and its UI link (no verdict: `verdict` says that, on stderr)."""
    from rich.table import Table

    summary = outcome.summary
    if summary is not None:  # a run that stopped before any row has nothing to tabulate
        table = Table(title=f"themegen run: {outcome.state_name}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in summary.model_dump(exclude={"failures"}).items():
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
        console.print(table)
        console.print(rows_to_theme(summary.rows_to_theme, summary.rows_already_done, summary.rows_failed_before))
        if summary.failures:
            console.print(_failures_table(summary, failures_table))
        if os.environ.get("THEMEGEN_STACK"):
            console.print(f"Environment: {os.environ['THEMEGEN_STACK']} (Gemini answers come from the local simulator)")
    if url := flow_run_url(outcome.flow_run_id):
        console.print(f"Prefect UI: {url}", soft_wrap=True)


def _failures_table(summary: RunSummary, failures_table: str):
    """Failed rows by reason: count, whether a rerun fixes them, what to do, example ids."""
    from rich.table import Table

    table = Table(title=f"failed rows by reason ({summary.rows_failed:,}); all of them: "
                        f"SELECT * FROM {failures_table} WHERE Reason = '<reason>'")
    for column in ("reason", "rows", "rerun fixes it", "what to do", "examples"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for group in summary.failures:
        table.add_row(group.reason.value, f"{group.rows:,}", "yes" if group.rerun_fixes else "no", group.what_to_do,
                      ", ".join(group.example_ids))
    return table


def verdict(outcome: RunOutcome, state_dir: Path, debug: bool, failures_table: str) -> int:
    """Say on stderr how the run ended, after its tables; the exit code (the caller raises a run's own
    exception, which the CLI's error handler words). --json prints its object after this, so a pipe
    of both streams still ends with it."""
    if outcome.error is not None:
        return 1
    if not outcome.completed:
        if outcome.traceback:
            _keep_traceback(outcome.traceback, state_dir, debug)
        typer.secho(f"Error: {outcome.message or outcome.state_name}", fg=typer.colors.RED, err=True)
        if outcome.traceback and not outcome.expected and not debug:
            typer.echo(f"(the traceback: --debug, {log_file(state_dir)} or the Prefect UI)", err=True)
        return 1
    summary = outcome.summary
    if summary is not None and summary.rows_failed:
        reasons = ", ".join(f"{group.reason.value} {group.rows:,}" for group in summary.failures)
        typer.secho(f"Completed, but {summary.rows_failed:,} of {summary.rows_total:,} rows failed ({reasons}): "
                    f"see 'failed rows by reason' above, and {failures_table}.", fg=typer.colors.YELLOW, err=True)
    return 0


def _keep_traceback(traceback: str, state_dir: Path, debug: bool) -> None:
    """The run's traceback (from its logs) into the log file, as the CLI's own errors go there."""
    path = log_file(state_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} themegen run (the flow run's log)\n{traceback}\n")
    except OSError:
        pass
    if debug:
        typer.echo(traceback, err=True)
