"""Cloud Spanner sink: idempotent insert_or_update of themes and failures, commit by commit."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import spanner
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from themegen.gcp import credentials
from themegen.models import RowFailure, ThemeRecord, UpsertResult
from themegen.settings import Settings
from themegen.sink.commits import chunked, rows_per_commit

THEME_COLUMNS = ("SourceId", "Themes", "Model", "PromptVersion", "InputHash", "GeneratedAt")
FAILURE_COLUMNS = ("SourceId", "BatchId", "Error", "Attempts", "FailedAt", "FlowRunId")
# A successful row also deletes its old failure row: one extra mutation per key.
MUTATIONS_PER_THEME_ROW = len(THEME_COLUMNS) + 1
MUTATIONS_PER_FAILURE_ROW = len(FAILURE_COLUMNS)
# insert_or_update is idempotent, so any commit may be retried; the client itself retries only
# ABORTED/UNAVAILABLE/RESOURCE_EXHAUSTED and raises DEADLINE_EXCEEDED and INTERNAL at once.
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

    def write_themes(self, records: list[ThemeRecord]) -> int:
        size = rows_per_commit(MUTATIONS_PER_THEME_ROW, self.budget)
        for chunk in chunked(records, size):
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

    def upsert(self, records: list[ThemeRecord], failures: list[RowFailure], flow_run_id: str | None) -> UpsertResult:
        themes = self.write_themes(records)
        failed = self.write_failures(failures, flow_run_id)
        return UpsertResult(themes_written=themes, failures_written=failed, commits=self.commits)
