"""The local stack's sink: the Cloud Spanner emulator (the default) or the machine's PostgreSQL server
(`themegen stack up --sink postgres`, database `themegen`): which part serves it, its database and
tables, and the settings that point the pipeline at it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from local_stack import postgres, spanner, spanner_export
from local_stack.processes import HOST
from themegen.sink.postgres.schema import all_ddl as postgres_ddl
from themegen.sink.postgres.settings import PostgresSettings
from themegen.sink.spanner.schema import all_ddl as spanner_ddl

if TYPE_CHECKING:
    from local_stack.stack import StackConfig

# the part (process) whose readiness lets the sink's database be prepared
SERVER = {"spanner": spanner.NAME, "postgres": postgres.NAME}


def postgres_tables() -> tuple[str, str]:
    """The PostgreSQL sink's default table names (the stack leaves THEMEGEN_POSTGRES_TABLE unset)."""
    defaults = PostgresSettings()
    return defaults.table, defaults.failures_table


def prepare(config: StackConfig) -> None:
    """The sink's database with both tables; its rows survive a second `up` unless config.reset."""
    if config.sink == "postgres":
        label, database, (themes, failures) = postgres.LABEL, postgres.SINK_DATABASE, postgres_tables()
        done = postgres.ensure_database(config.postgres_port, database, postgres_ddl(themes, failures),
                                        reset=config.reset)
        count = lambda: postgres.count_rows(config.postgres_port, database, themes)  # noqa: E731
    else:
        label, database = spanner.LABEL, config.spanner_database
        themes, failures, host = config.themes_table, config.failures_table, f"{HOST}:{config.spanner_port}"
        done = spanner.ensure_database(config.project, config.spanner_instance, database,
                                       spanner_ddl(*config.spanner_tables), host=host, reset=config.reset)
        count = lambda: spanner.count_rows(config.project, config.spanner_instance, database, themes, host)  # noqa: E731
        # The emulator keeps nothing on disk: `stack down` saved its rows (PostgreSQL keeps its own).
        if done == "created" and (restored := spanner_export.import_tables(
                config.project, config.spanner_instance, database, config.spanner_tables, host, config.state_dir)):
            _say(label, f"database {database} created with {themes}, {failures}; {restored:,} rows restored "
                        f"from {config.state_dir / spanner_export.EXPORT_DIR} (saved by `stack down`)")
            return
    up_again = "themegen stack up" + (" --sink postgres" if config.sink == "postgres" else "")
    if done == "kept":
        _say(label, f"database {database} kept: {count():,} rows in {themes} (`{up_again} --reset` empties it)")
    elif done == "recreated":
        _say(label, f"--reset: database {database} dropped and created empty with {themes}, {failures}")
    else:
        _say(label, f"database {database} created with {themes}, {failures}")


def env(config: StackConfig) -> dict[str, str]:
    """The settings that choose the sink and point it at the stack."""
    if config.sink == "postgres":
        return {"THEMEGEN_SINK": "postgres", "THEMEGEN_POSTGRES_DSN": postgres.sink_dsn(config.postgres_port)}
    return {
        "THEMEGEN_SINK": "spanner",
        "SPANNER_EMULATOR_HOST": f"{HOST}:{config.spanner_port}",
        "SPANNER_DISABLE_BUILTIN_METRICS": "true",
        # The emulator runs one read-write transaction at a time and aborts concurrent ones.
        "THEMEGEN_SPANNER_CONCURRENT_COMMITS": "1",
        "THEMEGEN_SPANNER_INSTANCE": config.spanner_instance,
        "THEMEGEN_SPANNER_DATABASE": config.spanner_database,
        "THEMEGEN_SPANNER_TABLE": config.themes_table,
        "THEMEGEN_SPANNER_FAILURES_TABLE": config.failures_table,
        "THEMEGEN_SPANNER_JUDGEMENTS_TABLE": config.judgements_table,
        "THEMEGEN_SPANNER_CANONICAL_TABLE": config.canonical_table,
        "THEMEGEN_SPANNER_THEME_MAP_TABLE": config.theme_map_table,
    }


def _say(label: str, message: str) -> None:
    print(f"{label}: {message}", flush=True)
