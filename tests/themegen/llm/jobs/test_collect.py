"""Requests streamed from the source into job files: each page (a batch descriptor's rows) is written
out before the next is read, one request per distinct text across pages, split by the per-job limits."""

from __future__ import annotations

import json

from tests.themegen.llm.gemini.test_generator import settings_for
from themegen.cache import open_cache
from themegen.domain.generation import Generation
from themegen.domain.models import BatchDescriptor, BatchPlan, SourceRow
from themegen.domain.prompt import input_hash
from themegen.llm.jobs.collect import job_files
from themegen.llm.jobs.settings import JobLimits
from themegen.llm.jobs.work import open_work
from themegen.pipeline.edges import Edges
from themegen.sink import Stored

PAGES, PAGE_ROWS = 6, 25
LIMITS = JobLimits(max_requests=20, max_bytes=10**9, max_tokens=None, max_concurrent=1)


class PagedSource:
    """Rows made up page by page as they are read, noting at each read how many requests are already
    written out (a line in a job file, through the file's bounded buffer, and its rows indexed in the
    work store on disk)."""

    def __init__(self, work) -> None:
        self.work, self.pages_read, self.lines_seen = work, 0, []

    def written_lines(self) -> int:
        return self.work.db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]

    def read_batch(self, batch: BatchDescriptor) -> list[SourceRow]:
        self.lines_seen.append(self.written_lines())
        self.pages_read += 1
        # Every fifth text repeats one of the first page's: it follows the row asked for it.
        return [SourceRow(id=f"{batch.batch_id:02d}-{n:03d}",
                          text=f"review {n} of page 0" if n % 5 == 0 else f"review {n} of page {batch.batch_id}")
                for n in range(PAGE_ROWS)]


class NothingStored:
    description = "an empty sink"

    async def stored(self, row_ids: list[str]) -> Stored:
        return Stored()


async def test_each_page_is_written_out_before_the_next_is_read_and_texts_are_asked_once(tmp_path):
    settings = settings_for("http://127.0.0.1:9", rows_per_request=1).with_overrides(cache_path=tmp_path / "cache", cache_block=None)
    plan = BatchPlan(snapshot_table="p.d.t", rows_total=PAGES * PAGE_ROWS, batch_size=PAGE_ROWS, batches=[
        BatchDescriptor(batch_id=b, snapshot_table="p.d.t", row_count=PAGE_ROWS, first_id="", last_id="")
        for b in range(PAGES)])
    with open_work(tmp_path / "work") as work:
        source = PagedSource(work)
        edges = Edges(settings, source, NothingStored(), await open_cache(settings), Generation.of(settings), None)
        files = [f async for f in job_files(plan, edges, work, LIMITS)]

        asked_per_page = [PAGE_ROWS] + [PAGE_ROWS - PAGE_ROWS // 5] * (PAGES - 1)  # page 0's texts repeat
        # When page p is read, every request of pages 0..p-1 is written out: nothing waits in memory.
        assert source.lines_seen == [sum(asked_per_page[:p]) for p in range(PAGES)]
        assert [f.requests for f in files] == [20] * 6 + [sum(asked_per_page) - 120]
        assert all(f.requests <= LIMITS.max_requests for f in files) and [f.index for f in files] == list(range(7))
        keys = [json.loads(line)["key"] for f in files for line in f.path.read_bytes().splitlines()]
        assert len(keys) == len(set(keys)) == sum(asked_per_page)
        [followers] = work.followers([input_hash("review 0 of page 0")]).values()  # asked once, on page 0
        assert sorted(r.id for r in followers) == [f"{p:02d}-000" for p in range(1, PAGES)]
