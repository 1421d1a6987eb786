"""`themegen` command line: the local stack, seeding, DDL, and running the flow.

Every command ends an error with one message on stderr and exit code 1; `--debug` adds the traceback
(which the log file .themegen/logs/themegen.log always gets).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import nullcontext, redirect_stdout
from pathlib import Path
from typing import Annotated, Literal

import typer
from dotenv import dotenv_values
from typer.core import TyperGroup

from themegen.cli.output import configure_logging, report_error, require_prefect_api
from themegen.domain.errors import tidy
from themegen.tiers import TierChoice

STATE_DIR = Path(os.environ.get("THEMEGEN_STATE_DIR", ".themegen"))


class _Commands(TyperGroup):
    """Turns any error of a command into one message (report_error) and exit code 1."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        # `themegen run --debug` as well as `themegen --debug run`: the flag is the whole CLI's.
        if "--debug" in args[1:]:
            args = ["--debug", *(arg for arg in args if arg != "--debug")]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own: usage errors, exit codes
            raise
        except Exception as error:
            report_error(error, STATE_DIR, ctx.params.get("debug", False))
            raise typer.Exit(1) from None


app = typer.Typer(cls=_Commands, help="Six Gemini themes per BigQuery row, stored in Cloud Spanner.",
                  no_args_is_help=True)
stack_app = typer.Typer(help="The local stack: emulators, the Gemini simulator and a Prefect server.")
app.add_typer(stack_app, name="stack")
limits_app = typer.Typer(help="Prefect concurrency and rate limits for Gemini requests.", no_args_is_help=True)
app.add_typer(limits_app, name="limits")


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="on errors, print the traceback too; show Prefect's "
                                        "INFO logs (every task run) in the terminal")] = False,
) -> None:
    """Six Gemini themes per BigQuery row, stored in Cloud Spanner."""


def load_stack_env(state_dir: Path = STATE_DIR) -> dict[str, str]:
    """Put `stack.env` (written by `stack up`) into the environment; real env vars win."""
    path = state_dir / "stack.env"
    values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.exists() else {}
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return values


def _prepare(ctx: typer.Context) -> None:
    """Settings from stack.env, then Prefect's terminal logging as --debug asks."""
    load_stack_env()
    configure_logging(STATE_DIR, ctx.find_root().params.get("debug", False))


@stack_app.command("up")
def stack_up(
    rows: Annotated[int, typer.Option(help="sample rows to load into BigQuery when its table is missing (or with --reset)")] = 30_000,
    gemini_rpm: Annotated[int, typer.Option(help="the simulator's RPM quota (also THEMEGEN_RPM)")] = 60_000,
    gemini_latency: Annotated[float, typer.Option(help="the simulator's mean latency, seconds")] = 0.0,
    gemini_jitter: Annotated[float, typer.Option(help="± uniform jitter on that latency, seconds")] = 0.0,
    prefect_database: Annotated[Literal["sqlite", "postgres"], typer.Option(
        help="the Prefect server's database: sqlite, or postgres (the machine's PostgreSQL server) for "
             "several processes sharing limits")] = "sqlite",
    sink: Annotated[Literal["spanner", "postgres"], typer.Option(
        help="where themes go: the Spanner emulator, or postgres (the machine's PostgreSQL server, database "
             "themegen; no Google Cloud CLI needed)")] = "spanner",
    reset: Annotated[bool, typer.Option(
        "--reset", help="wipe the data: recreate the sink's database empty, seed the sample table again, "
                        "empty the row cache")] = False,
) -> None:
    """Start the local stack (every part on 127.0.0.1) and write .themegen/stack.env.

    A running stack is reused and keeps its data (the sink's rows, the sample table, the row cache)
    unless --reset.
    """
    from local_stack.stack import StackConfig, up

    up(StackConfig(state_dir=STATE_DIR, seed_rows=rows, gemini_rpm=gemini_rpm, gemini_latency_s=gemini_latency,
                   gemini_latency_jitter_s=gemini_jitter, prefect_database=prefect_database, sink=sink, reset=reset))


@stack_app.command("down")
def stack_down() -> None:
    """Stop every process `stack up` started."""
    from local_stack.stack import StackConfig, down

    down(StackConfig(state_dir=STATE_DIR))


@app.command()
def seed(rows: Annotated[int, typer.Option(help="rows to generate")] = 30_000) -> None:
    """Replace the local BigQuery sample table with N generated rows (stack must be up)."""
    from local_stack.stack import StackConfig, seed as seed_table

    seed_table(StackConfig(state_dir=STATE_DIR), rows)


@app.command()
def ddl() -> None:
    """Print the DDL of the configured sink's tables (THEMEGEN_SINK: Spanner by default)."""
    load_stack_env()
    from themegen.config.settings import Settings
    from themegen.sink import sink_ddl

    for statement in sink_ddl(Settings()):
        typer.echo(statement + ";\n")


@app.command("estimate")
def estimate_command(
    ctx: typer.Context,
    sample: Annotated[int, typer.Option(help="rows sampled for token counting")] = 200,
    rows: Annotated[int | None, typer.Option(min=1, help="only the first N rows by id, as `run --rows`")] = None,
    tpm: Annotated[int | None, typer.Option(help="input tokens per minute of your quota")] = None,
    deadline: Annotated[str | None, typer.Option(help="show which tier auto picks for it, e.g. 2h, 1d (THEMEGEN_DEADLINE)")] = None,
) -> None:
    """Rows, tokens, USD per model and per tier, and the time each tier takes, before running anything."""
    _prepare(ctx)
    from themegen.pricing.estimate import estimate, format_estimate
    from themegen.pricing.estimate_record import save_estimate
    from themegen.config.settings import Settings

    settings = Settings().with_overrides(deadline=deadline)

    async def estimate_and_keep():
        result = await estimate(settings, sample, rows_limit=rows, tpm=tpm)
        await save_estimate(settings, rows, result)  # the next run's report sets it beside what the run did
        return result

    typer.echo(format_estimate(asyncio.run(estimate_and_keep())))


def flow_run_url(flow_run_id: str | None) -> str | None:
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui and flow_run_id else None


@app.command()
def run(
    ctx: typer.Context,
    # min=1: 0 would mean "no limit" downstream and a negative count an empty run that "succeeds"
    rows: Annotated[int | None, typer.Option(min=1, help="only the first N rows by id (trial run)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="rows per batch (default 100 x rows-per-request)")] = None,
    max_parallel: Annotated[int | None, typer.Option(help="batches in parallel")] = None,
    rows_per_request: Annotated[int | None, typer.Option(help="rows packed into one Gemini request")] = None,
    shard: Annotated[int | None, typer.Option(help="only shard S (0-based) of --shard-count, by id hash")] = None,
    shard_count: Annotated[int, typer.Option(help="shards the rows are split into (with --shard)")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="write the summary as JSON, and only that, to stdout "
                                                  "(the table and the rest go to stderr)")] = False,
    tier: Annotated[TierChoice | None, typer.Option(
        help="standard, flex (half price, best effort), batch (half price, within 24 h) or auto (THEMEGEN_TIER)")] = None,
    deadline: Annotated[str | None, typer.Option(help="for --tier auto: e.g. 90m, 2h, 1d (THEMEGEN_DEADLINE)")] = None,
) -> None:
    """Run the generate-themes flow now, in this process. With --shard, --rows applies within the shard."""
    _prepare(ctx)
    from themegen.config.settings import Settings

    settings = Settings().with_overrides(tier=tier, deadline=deadline)  # bad settings fail here, before a flow run
    require_prefect_api()
    from rich.console import Console

    from flows.generate_themes import generate_themes
    from themegen.domain.models import RunSummary
    from themegen.cli.progress_line import ProgressLine

    # With --json, stdout carries the JSON object only: the table, the bar and any print go to stderr.
    console = Console(stderr=as_json)
    with redirect_stdout(sys.stderr) if as_json else nullcontext():
        with ProgressLine():
            state = asyncio.run(generate_themes(
                rows_limit=rows, batch_size=batch_size, max_parallel_batches=max_parallel,
                rows_per_request=rows_per_request, shard=shard, shard_count=shard_count, tier=tier, deadline=deadline,
                return_state=True,
            ))
        data = state.result(raise_on_failure=False)
        flow_run_id = str(state.state_details.flow_run_id)
        summary = data if isinstance(data, RunSummary) else RunSummary(flow_run_id=flow_run_id)
        if isinstance(data, RunSummary):  # a run that stopped before any row has nothing to tabulate
            _print_summary(console, summary, state.name, state.message, settings.spanner.failures_table)
        elif url := flow_run_url(flow_run_id):
            console.print(f"Prefect UI: {url}", soft_wrap=True)
    if as_json:
        print(json.dumps(summary.model_dump()), flush=True)
    if isinstance(data, BaseException):
        raise data  # one message from _Commands
    if not state.is_completed():
        if not isinstance(data, RunSummary):
            typer.secho(f"Error: {tidy(state.message or state.name)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _print_summary(console, summary, state_name: str, message: str | None, failures_table: str) -> None:
    from rich.table import Table

    table = Table(title=f"themegen run: {state_name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.model_dump(exclude={"failures"}).items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    if summary.failures:
        console.print(_failures_table(summary, failures_table))
    if os.environ.get("THEMEGEN_STACK"):
        console.print(f"Environment: {os.environ['THEMEGEN_STACK']} (Gemini answers come from the local simulator)")
    if message and state_name != "Completed":
        console.print(f"[red]{message}[/red]")
    if url := flow_run_url(summary.flow_run_id):
        console.print(f"Prefect UI: {url}", soft_wrap=True)


def _failures_table(summary, failures_table: str):
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


@app.command()
def setup(ctx: typer.Context) -> None:
    """One-time Prefect setup for PREFECT_API_URL: work pools, concurrency limits, variable, block types,
    the automation that marks runs whose process died Crashed.

    Safe to run again: it only creates what is missing and updates what differs from the settings.
    """
    _prepare(ctx)
    require_prefect_api()
    from deployments.setup import setup as run_setup

    for item in asyncio.run(run_setup()):  # a SetupError ends as one message (_Commands)
        typer.echo(str(item))


@limits_app.command("apply")
def limits_apply(ctx: typer.Context) -> None:
    """Create or update, from the settings, the `gemini` tag limit (THEMEGEN_MAX_PARALLEL_BATCHES), the RPM
    rate limit (THEMEGEN_SHARED_RATE_LIMIT, default gemini-rpm) and, with THEMEGEN_TPM, the TPM one
    (THEMEGEN_SHARED_TOKEN_LIMIT, default gemini-tpm).

    Safe to run again: it prints what it created, updated or found already as configured.
    """
    _prepare(ctx)
    require_prefect_api()
    from deployments.setup import apply_limits

    for item in asyncio.run(apply_limits()):
        typer.echo(str(item))


if __name__ == "__main__":  # `python -m themegen.cli.app`, as tests and workers invoke it
    app()
