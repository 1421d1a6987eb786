"""Mutable state of one simulator: knobs, RNG, quota windows, counters, batch jobs and files."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .answers import ALL_MODES, NOT_JSON, ROW_MODES
from .config import SimConfig
from .quota import EMBEDDING, QuotaWindows

if TYPE_CHECKING:
    from .batches import BatchJob
    from .files import StoredFile, Upload
    from .generate import Generated


@dataclass
class Tally:
    """Answers given and what they cost: online ones in Stats itself, batch ones in Stats.batch."""

    ok: int = 0
    rows_answered: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    invalid_outputs: int = 0  # answers whose text deliberately breaks the themes contract
    non_stop_finishes: int = 0  # answers with a finishReason other than STOP

    def record(self, input_tokens: int, generated: Generated) -> None:
        self.ok += 1
        self.rows_answered += generated.rows_answered
        self.input_tokens += input_tokens
        self.output_tokens += generated.output_tokens
        self.invalid_outputs += generated.invalid
        self.non_stop_finishes += generated.non_stop


@dataclass
class FlexStats:
    requests: int = 0  # generateContent calls with serviceTier "flex" (also counted in Stats.requests)
    ok: int = 0
    shed_429: int = 0  # flex calls refused as if Flex capacity ran out (also in Stats.http_429)
    shed_503: int = 0


@dataclass
class BatchStats(Tally):
    jobs_created: int = 0
    jobs_cancelled: int = 0
    requests: int = 0  # requests of jobs that ran, whatever their outcome (ok + failed + missing)
    failed: int = 0  # requests answered with a per-request error in the job's output
    missing: int = 0  # requests left out of the job's output altogether
    largest_job_requests: int = 0
    largest_job_bytes: int = 0  # of its input (a file, or a table's rows as JSON)
    most_jobs_at_once: int = 0  # jobs pending or running together, as each job was created
    refused_400: int = 0  # jobs refused as too large (requests or bytes)
    refused_429: int = 0  # jobs refused for want of room (concurrent jobs, enqueued tokens)
    last_job_ended_at: str | None = None  # RFC 3339: when the latest job to end ended


@dataclass
class EmbedStats:
    """batchEmbedContents / embedContent calls, apart from generation's (tests count those)."""

    requests: int = 0  # calls received, whatever their outcome
    ok: int = 0
    texts: int = 0  # texts embedded (of answered calls)
    input_tokens: int = 0  # of answered calls, as the quota counts them
    http_400: int = 0
    http_429: int = 0
    http_500: int = 0
    http_503: int = 0


@dataclass
class NamingStats:
    """Requests to name clusters (generateContent with a "names" schema), apart from generation's."""

    requests: int = 0
    clusters_named: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Stats(Tally):
    requests: int = 0  # generateContent calls received, whatever their outcome
    http_400: int = 0
    http_403: int = 0
    http_404: int = 0
    http_409: int = 0
    http_429: int = 0
    http_500: int = 0
    http_503: int = 0
    # Requests that arrived after the first per-day refusal had been sent: a client that stops on
    # it sends none, except what was already on its way.
    after_day_refusal: int = 0
    in_progress_at_day_refusal: int | None = None  # admitted requests still "generating" at that moment
    in_progress: int = 0
    # A plain dict: dataclasses.asdict() would rebuild a Counter from (key, value) pairs.
    # Every request naming the row, online (rejected ones included) or in a batch job.
    row_requests: dict[str, int] = field(default_factory=dict)
    files_uploaded: int = 0
    flex: FlexStats = field(default_factory=FlexStats)
    batch: BatchStats = field(default_factory=BatchStats)
    embed: EmbedStats = field(default_factory=EmbedStats)
    naming: NamingStats = field(default_factory=NamingStats)


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.quota = QuotaWindows()
        self.embed_quota = QuotaWindows(EMBEDDING)
        self.jobs: dict[str, BatchJob] = {}
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, Upload] = {}  # resumable uploads not finalized yet
        self.reset()

    def reset(self) -> None:
        # Reseeding makes a reset simulator replay the same random faults as a fresh one.
        self.stats = Stats()
        self.quota.reset()
        self.embed_quota.reset()
        for job in self.jobs.values():
            job.stop()
        self.jobs.clear()
        self.files.clear()
        self.uploads.clear()
        self.rng = random.Random(self.config.seed)

    def update_config(self, changes: dict[str, Any]) -> None:
        self.config = SimConfig.model_validate(self.config.model_dump() | changes)
        if "seed" in changes:
            self.rng = random.Random(self.config.seed)

    def chance(self, probability: float) -> bool:
        # Draw only for enabled knobs, so turning one knob on leaves the others' sequence alone.
        return probability > 0 and self.rng.random() < probability

    def breakage(self, row_ids: list[str], items: bool) -> tuple[dict[int, str], bool]:
        """Which answered rows get which contract violation, and whether the text is not JSON."""
        broken: dict[int, str] = {}
        not_json = False
        # A not-JSON answer breaks every row of a batch, so fail_ids only do that for single rows.
        fail_modes = ROW_MODES if items else ALL_MODES
        fail_ids = set(self.config.fail_ids)
        limit = self.config.fail_times
        for index, row_id in enumerate(row_ids):
            if row_id in fail_ids and (limit is None or self.stats.row_requests.get(row_id, 0) <= limit):
                mode = self.config.fail_mode or self.rng.choice(fail_modes)
                not_json |= mode == NOT_JSON
                broken[index] = mode
        if self.chance(self.config.invalid_output_rate):
            mode = self.rng.choice(ALL_MODES)
            not_json |= mode == NOT_JSON
            broken[self.rng.randrange(len(row_ids))] = mode
        return {i: m for i, m in broken.items() if m != NOT_JSON}, not_json


SIMULATOR = web.AppKey("simulator", Simulator)
