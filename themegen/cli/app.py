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
    # metavar "": typer would show `--debug <bool>`, as if the flag took a value.
    debug: Annotated[bool, typer.Option("--debug", metavar="", help="on errors, print the traceback too; show Prefect's "
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


GCS_PORT = 9080  # the Cloud Storage emulator's, next to the stack's other ports


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
    cache: Annotated[Literal["gcs", "sqlite"], typer.Option(
        help="the row cache: gcs, a prefect-gcp GcsBucket block on the Cloud Storage emulator (as the Cloud Run "
             "deployment's cache), or sqlite, a file under .themegen/cache")] = "gcs",
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
                   gemini_latency_jitter_s=gemini_jitter, prefect_database=prefect_database, sink=sink, reset=reset,
                   gcs_port=GCS_PORT if cache == "gcs" else None))


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


@app.command()
def taxonomy(ctx: typer.Context) -> None:
    """Build or extend the canonical themes from what the sink holds, in this process (the build-taxonomy
    flow): only themes not mapped yet are embedded, only new clusters named; prints the top ones."""
    _prepare(ctx)
    require_prefect_api()
    from rich.console import Console

    from themegen.cli.taxonomy_command import run_taxonomy, show

    show(Console(), run_taxonomy())


@app.command("estimate")
def estimate_command(
    ctx: typer.Context,
    sample: Annotated[int, typer.Option(help="rows sampled for token counting")] = 200,
    rows: Annotated[int | None, typer.Option(min=1, help="only the first N rows by id, as `run --rows`")] = None,
    tpm: Annotated[int | None, typer.Option(help="input tokens per minute of your quota")] = None,
    deadline: Annotated[str | None, typer.Option(help="show which tier auto picks for it, e.g. 2h, 1d (THEMEGEN_DEADLINE)")] = None,
    rpd: Annotated[int | None, typer.Option(min=1, help="requests per day of your quota: days per rows-per-request "
                                                        "packing, and the packing the run uses (THEMEGEN_RPD)")] = None,
    compare_model: Annotated[str | None, typer.Option(help="also price the run with this model, beside the "
                                                      "configured one, with the last `themegen compare` of the two")] = None,
    compare_prompt_file: Annotated[str | None, typer.Option(help="the same for this prompt file")] = None,
) -> None:
    """Rows, tokens, USD per model and per tier, and the time each tier takes, before running anything."""
    _prepare(ctx)
    from themegen.pricing.estimate import estimate, format_estimate
    from themegen.pricing.estimate_record import save_estimate
    from themegen.config.settings import Settings
    from themegen.cli.estimate_compare import compare_lines, other_configuration

    settings = Settings().with_overrides(deadline=deadline, rpd=rpd)
    other = other_configuration(settings, compare_model, compare_prompt_file)

    async def estimate_and_keep():
        result = await estimate(settings, sample, rows_limit=rows, tpm=tpm)
        await save_estimate(settings, rows, result)  # the next run's report sets it beside what the run did
        return result, (None if other is None else await compare_lines(settings, result, other, sample, rows, tpm))

    result, compared = asyncio.run(estimate_and_keep())
    typer.echo(format_estimate(result) + ("\n\n" + "\n".join(compared) if compared else ""))


def _overrides(pairs: list[str], option: str) -> dict[str, str]:
    """['model=gemini-2.5-pro', 'prompt_file=p.txt'] -> settings overrides (flat setting names)."""
    found = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    if len(found) != len(pairs):
        raise typer.BadParameter("use setting=value, e.g. model=gemini-2.5-flash-lite", param_hint=option)
    return found


@app.command()
def compare(
    ctx: typer.Context,
    a: Annotated[list[str], typer.Option("--a", help="configuration A as setting=value overrides, repeatable "
                                         "(e.g. --a model=gemini-2.5-flash-lite --a prompt_file=p.txt)")] = [],  # noqa: B006
    b: Annotated[list[str], typer.Option("--b", help="configuration B, the same way")] = [],  # noqa: B006
    rows: Annotated[int, typer.Option(min=1, help="rows compared at most (the same sample for both)")] = 1000,
    look: Annotated[int, typer.Option(min=10, help="rows between looks at the answer (it stops once clear)")] = 100,
    seed: Annotated[int, typer.Option(help="which rows are sampled")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
) -> None:
    """Two configurations (model and/or prompt) on the same rows, judged pairwise in both orders: which is
    better, with its interval, and what each costs per 1,000 rows. Nothing is written to the sink."""
    _prepare(ctx)
    from themegen.config.settings import Settings
    from themegen.quality.comparing import compare as compare_configurations, side_settings
    from themegen.quality.comparison_report import comparison_lines

    settings = Settings()
    result = asyncio.run(compare_configurations(side_settings(settings, **_overrides(a, "--a")),
                                                side_settings(settings, **_overrides(b, "--b")), rows, look, seed))
    if as_json:
        typer.echo(result.model_dump_json(indent=1))
        return
    typer.echo("\n".join(comparison_lines(result)))


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
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="write the summary as JSON, and only that, to "
                                                  "stdout (the table and the rest go to stderr)")] = False,
    tier: Annotated[TierChoice | None, typer.Option(
        help="standard, flex (half price, best effort), batch (half price, within 24 h) or auto (THEMEGEN_TIER)")] = None,
    deadline: Annotated[str | None, typer.Option(help="for --tier auto: e.g. 90m, 2h, 1d (THEMEGEN_DEADLINE)")] = None,
    in_process: Annotated[bool, typer.Option("--in-process", metavar="", help=(
        "for debugging: run the flow in this process, with no deployment (so no Retry in the UI) and no worker"))] = False,
) -> None:
    """Run the generate-themes flow now, on the local stack's worker, and follow it here.

    The run is one of the generate-themes-local deployment of this checkout, so the Prefect UI offers Retry
    for it; it gets these options and this shell's THEMEGEN_* settings. Ctrl-C cancels it. With --shard,
    --rows applies within the shard.
    """
    _prepare(ctx)
    stack_keys = list(load_stack_env())
    from themegen.config.settings import Settings

    settings = Settings().with_overrides(tier=tier, deadline=deadline)  # bad settings fail here, before a flow run
    api_url = require_prefect_api()
    from rich.console import Console

    from themegen.cli.run_command import run_in_process, run_on_worker, show, verdict
    from themegen.domain.models import RunSummary

    # None is each parameter's default in the flow: leaving it out keeps the run's parameters in the UI short.
    given = {"rows_limit": rows, "batch_size": batch_size, "max_parallel_batches": max_parallel,
             "rows_per_request": rows_per_request, "shard": shard, "tier": tier, "deadline": deadline}
    parameters = {key: value for key, value in given.items() if value is not None}
    if shard_count != 1:
        parameters["shard_count"] = shard_count
    # With --json, stdout carries the JSON object only: the table, the bar and any print go to stderr.
    console = Console(stderr=as_json)
    with redirect_stdout(sys.stderr) if as_json else nullcontext():
        outcome = run_in_process(parameters) if in_process else run_on_worker(
            parameters, stack_keys, api_url, STATE_DIR, settings.orchestrator_timeout_s)
        failures_table = settings.sink_settings.failures_table
        show(console, outcome, failures_table)
        code = verdict(outcome, STATE_DIR, ctx.find_root().params.get("debug", False), failures_table)
    if as_json:
        print(json.dumps((outcome.summary or RunSummary(flow_run_id=outcome.flow_run_id)).model_dump()), flush=True)
    if outcome.error is not None:
        raise outcome.error  # one message from _Commands
    if code:
        raise typer.Exit(code)


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
