"""Step 3 writes batches while step 2 is still producing them, and writes everything at the end."""

from __future__ import annotations

import asyncio

from tasks.upsert_themes import upsert_themes
from tests.themegen.sink.test_spanner import record
from themegen.models import BatchResult, RowFailure
from themegen.settings import Settings
from themegen.stream import BatchStream


def stored(stack) -> int:
    return stack.read_table("SELECT COUNT(*) FROM Themes")[0][0]


async def test_full_commits_go_out_before_generation_ends_and_the_rest_at_the_end(stack):
    stack.clear_outputs()
    settings = Settings(spanner_mutations_per_commit=700)  # 100 theme rows per commit
    finished = BatchStream()
    writer = asyncio.create_task(upsert_themes(finished, settings, "fr"))
    for b in range(3):  # 3 batches of 50 rows: one full commit of 100 is ready after the second
        finished.put(BatchResult(batch_id=b, rows=50, records=[record(50 * b + i) for i in range(50)]))
    for _ in range(100):
        if stored(stack) == 100:
            break
        await asyncio.sleep(0.1)
    assert stored(stack) == 100 and not writer.done()  # written while batches are still coming

    failure = RowFailure(source_id="s-9999", batch_id=3, error="boom", attempts=1)
    finished.put(BatchResult(batch_id=3, rows=1, failures=[failure]))
    finished.close()
    result = await writer
    assert (result.themes_written, result.failures_written, result.commits) == (150, 1, 3)
    assert stored(stack) == 150
    assert stack.read_table("SELECT SourceId FROM ThemeFailures") == [["s-9999"]]
