"""Cloud Spanner sink (themegen/sink's port): what a batch's rows already hold, and idempotent
writes of a batch's outcome, in commits within Spanner's mutation limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading

from google.api_core import exceptions as gexc
from google.cloud import spanner

from themegen.domain.errors import sentence
from themegen.config.gcp import credentials
from themegen.config.settings import Settings
from themegen.domain.models import JudgementRecord
from themegen.sink import SinkConfigError, SinkUnavailable, Stored, Writes  # noqa: F401 (tests import it here)
from themegen.sink.deadline import within_deadline
from themegen.sink.commits import pack_commits
from themegen.sink.spanner.commits import SPANNER_MAX_MUTATIONS_PER_COMMIT
from themegen.sink.spanner.schema import ADDED_COLUMNS, upgrade_ddl
from themegen.sink.spanner.taxonomy import CANONICAL_COLUMNS, MAP_COLUMNS, SpannerTaxonomy

THEME_COLUMNS = ("SourceId", "Themes", "Model", "PromptVersion", "PromptFingerprint", "InputHash", "GeneratedAt")
FAILURE_COLUMNS = ("SourceId", "BatchId", "Reason", "Error", "Attempts", "FailedAt", "FlowRunId")
JUDGEMENT_COLUMNS = ("SourceId", "JudgeModel", "RubricVersion", "Themes", "Verdicts", "Cover", "Model",
                     "PromptFingerprint", "InputHash", "FlowRunId", "JudgedAt")
READ_KEYS_PER_CALL = 2_000
# Errors worth another attempt within the deadline; api_core's RetryError is the client's own retry
# running out, TimeoutError our deadline cutting a call short.
_TRANSIENT = (gexc.Aborted, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
              gexc.ResourceExhausted, gexc.RetryError, TimeoutError)


async def _in_daemon_thread(call, *args):
    """Run a blocking client call off the event loop in a daemon thread. Why not asyncio.to_thread:
    the client retries UNAVAILABLE commits for up to an hour on its own, and a pool thread still
    waiting on a dead Spanner would hold the process at exit; a daemon thread is left behind (its
    writes are idempotent, so a late success is harmless)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(outcome: BaseException | tuple) -> None:
        if not future.done():
            future.set_exception(outcome) if isinstance(outcome, BaseException) else future.set_result(outcome[0])

    def run() -> None:
        try:
            outcome = (call(*args),)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            outcome = exc
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:
            pass  # the loop is gone: nobody waits for this call any more

    threading.Thread(target=run, daemon=True, name="spanner-call").start()
    return await future


class SpannerSink(SpannerTaxonomy):
    def __init__(self, settings: Settings, mutation_budget: int | None = None) -> None:
        self.settings = settings
        self.budget = mutation_budget or settings.spanner.mutations_per_commit
        if not 0 < self.budget <= SPANNER_MAX_MUTATIONS_PER_COMMIT:
            raise ValueError(f"mutation budget must be in 1..{SPANNER_MAX_MUTATIONS_PER_COMMIT}, got {self.budget}")
        client = spanner.Client(project=settings.gcp_project, credentials=credentials(settings))
        self.database = client.instance(settings.spanner.instance).database(settings.spanner.database)
        self.commits = 0
        cap = settings.spanner.concurrent_commits
        self._commit_slots = asyncio.Semaphore(cap) if cap else contextlib.nullcontext()
        self.failures_table = settings.spanner.failures_table
        endpoint = os.environ.get("SPANNER_EMULATOR_HOST")
        self.description = (f"Spanner {settings.spanner.instance}/{settings.spanner.database} "
                            f"({'emulator at ' + endpoint if endpoint else 'project ' + settings.gcp_project})")

    def close(self) -> None:
        """Nothing to release: the client's sessions end with the process."""

    async def _within_deadline(self, call, *args):
        """Run `call`, retrying transient errors until THEMEGEN_SPANNER_DEADLINE_S, then one clear error."""
        return await within_deadline(lambda: _in_daemon_thread(call, *args), deadline_s=self.settings.spanner.deadline_s,
                                     transient=_TRANSIENT, description=self.description,
                                     deadline_setting="THEMEGEN_SPANNER_DEADLINE_S")

    async def stored(self, row_ids: list[str]) -> Stored:
        return await self._within_deadline(self._read, row_ids)

    def _read(self, source_ids: list[str]) -> Stored:
        s, found = self.settings, Stored()
        for start in range(0, len(source_ids), READ_KEYS_PER_CALL):
            keys = spanner.KeySet(keys=[[k] for k in source_ids[start:start + READ_KEYS_PER_CALL]])
            # Single-use snapshots: the emulator aborts concurrent multi-use read-only transactions
            # ("Transaction not found"), and the two tables need no common read timestamp.
            with self.database.snapshot() as snapshot:
                rows = snapshot.read(s.spanner.table, THEME_COLUMNS[:1] + THEME_COLUMNS[2:6], keys)
                found.themes.update({r[0]: tuple(r[1:]) for r in rows})
            with self.database.snapshot() as snapshot:
                rows = snapshot.read(s.spanner.failures_table, ("SourceId", "Reason", "Error"), keys)
                found.failures.update({r[0]: tuple(r[1:]) for r in rows})
        return found

    async def write(self, writes: Writes, flow_run_id: str | None) -> None:
        """Upserts and deletes in commits inside the mutation budget (idempotent, so any may be retried)."""
        s, ts = self.settings, spanner.COMMIT_TIMESTAMP
        groups = [
            (s.spanner.table, THEME_COLUMNS, len(THEME_COLUMNS),
             [(r.source_id, r.themes, r.model, r.prompt_version, r.prompt_fingerprint, r.input_hash, ts)
              for r in writes.themes]),
            (s.spanner.failures_table, FAILURE_COLUMNS, len(FAILURE_COLUMNS),
             [(f.source_id, f.batch_id, f.reason.value, f.error, f.attempts, ts, flow_run_id)
              for f in writes.failures]),
            (s.spanner.table, None, 1, writes.delete_themes),
            (s.spanner.failures_table, None, 1, writes.delete_failures),
        ]
        for commit in pack_commits(groups, self.budget):
            async with self._commit_slots:
                await self._within_deadline(self._commit, commit)

    def _commit(self, commit: list[tuple]) -> None:
        with self.database.batch() as batch:
            for table, columns, values in commit:
                if columns is None:
                    batch.delete(table, spanner.KeySet(keys=[[k] for k in values]))
                else:
                    batch.insert_or_update(table=table, columns=columns, values=values)
        self.commits += 1

    async def themes_of(self, row_ids: list[str]) -> dict[str, tuple[list[str], tuple]]:
        return await self._within_deadline(self._read_themes, row_ids)

    def _read_themes(self, source_ids: list[str]) -> dict[str, tuple[list[str], tuple]]:
        found = {}
        for start in range(0, len(source_ids), READ_KEYS_PER_CALL):
            keys = spanner.KeySet(keys=[[k] for k in source_ids[start:start + READ_KEYS_PER_CALL]])
            with self.database.snapshot() as snapshot:
                for row in snapshot.read(self.settings.spanner.table, THEME_COLUMNS[:6], keys):
                    found[row[0]] = (list(row[1]), tuple(row[2:6]))
        return found

    async def write_judgements(self, judgements: list[JudgementRecord], flow_run_id: str | None) -> None:
        rows = [(j.source_id, j.judge_model, j.rubric_version, j.themes, j.verdicts, j.cover, j.model,
                 j.prompt_fingerprint, j.input_hash, flow_run_id, spanner.COMMIT_TIMESTAMP) for j in judgements]
        groups = [(self.settings.spanner.judgements_table, JUDGEMENT_COLUMNS, len(JUDGEMENT_COLUMNS), rows)]
        for commit in pack_commits(groups, self.budget):
            await self._within_deadline(self._commit, commit)

    async def check_tables(self) -> None:
        """Fail before any LLM call when the database, a table or a column is missing, naming the fix."""
        await self._within_deadline(self._check_tables)

    def _check_tables(self) -> None:
        s = self.settings
        tables = ((s.spanner.table, THEME_COLUMNS, "themes"), (s.spanner.failures_table, FAILURE_COLUMNS, "failures"))
        if s.taxonomy.enabled:  # the step runs after the themes are written: its tables are checked before too
            tables += ((s.spanner.canonical_table, CANONICAL_COLUMNS, "canonical"),
                       (s.spanner.theme_map_table, MAP_COLUMNS, "theme map"))
        try:
            with self.database.snapshot(multi_use=True) as snapshot:
                for table, columns, kind in tables:
                    list(snapshot.execute_sql(f"SELECT 1 FROM {table} LIMIT 0"))  # the table exists
                    # qualified names: a column may share its table's name (Themes.Themes)
                    names = ", ".join(f"t.{c}" for c in columns)
                    try:
                        list(snapshot.execute_sql(f"SELECT {names} FROM {table} AS t LIMIT 0"))
                    except gexc.InvalidArgument as exc:
                        if kind in ADDED_COLUMNS and ADDED_COLUMNS[kind][0] in exc.message:
                            raise SinkConfigError(
                                f"Spanner table {table} was made by an earlier version: apply "
                                f"`{upgrade_ddl(table, kind)}` (gcloud spanner databases ddl update)"
                            ) from None
                        raise
        except (gexc.NotFound, gexc.InvalidArgument) as exc:
            raise SinkConfigError(
                f"{self.description} is not ready: {sentence(exc.message)}. Check THEMEGEN_SPANNER_INSTANCE / "
                "THEMEGEN_SPANNER_DATABASE / _TABLE / _FAILURES_TABLE / _CANONICAL_TABLE / _THEME_MAP_TABLE and apply "
                "`themegen ddl` (THEMEGEN_TAXONOMY_ENABLED=false skips the taxonomy's tables)"
            ) from None
