"""Cloud Spanner sink: idempotent insert_or_update of themes and failures, commit by commit."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import spanner
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from themegen.gcp import credentials
from themegen.models import RowFailure, ThemeRecord
from themegen.settings import Settings
from themegen.sink.commits import chunked, rows_per_commit

THEME_COLUMNS = ("SourceId", "Themes", "Model", "PromptVersion", "InputHash", "GeneratedAt")
FAILURE_COLUMNS = ("SourceId", "BatchId", "Error", "Attempts", "FailedAt", "FlowRunId")
# A successful row also deletes its old failure row: one extra mutation per key.
MUTATIONS_PER_THEME_ROW = len(THEME_COLUMNS) + 1
MUTATIONS_PER_FAILURE_ROW = len(FAILURE_COLUMNS)
# insert_or_update is idempotent, so any commit may be retried; the client itself retries only
# ABORTED/UNAVAILABLE/RESOURCE_EXHAUSTED and raises DEADLINE_EXCEEDED and INTERNAL at once.
READ_KEYS_PER_CALL = 2_000


class SinkConfigError(RuntimeError):
    """The Spanner database/tables in settings are missing; the message names the settings."""


_TRANSIENT = (gexc.Aborted, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
              gexc.ResourceExhausted)


class SpannerSink:
    def __init__(self, settings: Settings, mutation_budget: int | None = None) -> None:
        self.settings = settings
        self.budget = mutation_budget or settings.spanner_mutations_per_commit
        client = spanner.Client(project=settings.gcp_project, credentials=credentials(settings))
        self.database = client.instance(settings.spanner_instance).database(settings.spanner_database)
        self.commits = 0

    @retry(
        retry=retry_if_exception_type(_TRANSIENT),
        stop=stop_after_attempt(6),
        wait=wait_exponential_jitter(initial=0.5, max=20),
        reraise=True,
    )
    def _commit(self, table: str, columns: tuple[str, ...], values: list[tuple], delete_keys: list[str]) -> None:
        with self.database.batch() as batch:
            batch.insert_or_update(table=table, columns=columns, values=values)
            if delete_keys:
                keyset = spanner.KeySet(keys=[[k] for k in delete_keys])
                batch.delete(self.settings.spanner_failures_table, keyset)
        self.commits += 1

    def _stored(self, source_ids: list[str]) -> dict[str, tuple]:
        """What Spanner already holds for these ids: (Themes, Model, PromptVersion, InputHash)."""
        stored: dict[str, tuple] = {}
        for chunk in chunked(source_ids, READ_KEYS_PER_CALL):
            with self.database.snapshot() as snapshot:
                rows = snapshot.read(self.settings.spanner_table, THEME_COLUMNS[:5],
                                     spanner.KeySet(keys=[[k] for k in chunk]))
                stored.update({r[0]: tuple(r[1:5]) for r in rows})
        return stored

    def changed(self, records: list[ThemeRecord]) -> list[ThemeRecord]:
        """Records whose stored row differs, so a rerun rewrites nothing that is already identical."""
        stored = self._stored([r.source_id for r in records])
        return [r for r in records
                if stored.get(r.source_id) != (r.themes, r.model, r.prompt_version, r.input_hash)]

    def failed_source_ids(self) -> list[str]:
        with self.database.snapshot() as snapshot:
            return [r[0] for r in snapshot.read(self.settings.spanner_failures_table, ["SourceId"], spanner.KeySet(all_=True))]

    def check_tables(self) -> None:
        """Fail before any LLM call when the database or a table is missing, naming the setting."""
        s = self.settings
        try:
            with self.database.snapshot(multi_use=True) as snapshot:
                for table, columns in ((s.spanner_table, THEME_COLUMNS), (s.spanner_failures_table, FAILURE_COLUMNS)):
                    # qualified names: a column may share its table's name (Themes.Themes)
                    names = ", ".join(f"t.{c}" for c in columns)
                    list(snapshot.execute_sql(f"SELECT {names} FROM {table} AS t LIMIT 0"))
        except (gexc.NotFound, gexc.InvalidArgument) as exc:
            raise SinkConfigError(
                f"Spanner {s.spanner_instance}/{s.spanner_database} is not ready: {exc.message}. Check "
                "THEMEGEN_SPANNER_INSTANCE / _DATABASE / _TABLE / _FAILURES_TABLE and apply `themegen ddl`"
            ) from None

    @property
    def theme_rows_per_commit(self) -> int:
        """Theme rows one commit holds within the mutation budget."""
        return rows_per_commit(MUTATIONS_PER_THEME_ROW, self.budget)

    def write_themes(self, records: list[ThemeRecord]) -> int:
        for chunk in chunked(records, self.theme_rows_per_commit):
            values = [
                (r.source_id, r.themes, r.model, r.prompt_version, r.input_hash, spanner.COMMIT_TIMESTAMP)
                for r in chunk
            ]
            self._commit(self.settings.spanner_table, THEME_COLUMNS, values, [r.source_id for r in chunk])
        return len(records)

    def write_failures(self, failures: list[RowFailure], flow_run_id: str | None) -> int:
        size = rows_per_commit(MUTATIONS_PER_FAILURE_ROW, self.budget)
        for chunk in chunked(failures, size):
            values = [
                (f.source_id, f.batch_id, f.error, f.attempts, spanner.COMMIT_TIMESTAMP, flow_run_id)
                for f in chunk
            ]
            self._commit(self.settings.spanner_failures_table, FAILURE_COLUMNS, values, [])
        return len(failures)

    def write_changed(self, records: list[ThemeRecord]) -> int:
        """Write the records whose stored row differs; returns how many were written."""
        return self.write_themes(self.changed(records)) if records else 0
