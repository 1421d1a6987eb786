"""A batch's rows: packed requests, single retries of lost items, and the row cache in between."""

from __future__ import annotations

import httpx

from local_stack.gemini_sim import SimConfig, derive_themes, running_simulator
from themegen.batch import theme_rows
from themegen.cache.local import LocalCache
from themegen.generator.gemini import GeminiGenerator
from themegen.models import RowFailure, SourceRow, ThemeRecord
from tests.themegen.generator.test_gemini import TEXT, settings_for

ROWS = [SourceRow(id=f"b{i:02d}", text=None if i == 7 else f"{TEXT} Row {i}.") for i in range(12)]


async def requests(base_url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base_url}/_sim/stats")).json()["requests"]


async def test_packed_rows_map_back_in_order_and_a_bad_item_is_asked_alone_then_cached(tmp_path):
    settings = settings_for("", rows_per_request=5, cache_path=tmp_path)
    async with running_simulator(SimConfig(fail_ids=["b03"], fail_mode="five_themes", fail_times=1)) as url:
        settings = settings.with_overrides(gemini_base_url=url)
        outcomes = await theme_rows(ROWS, 0, LocalCache(tmp_path), GeminiGenerator(settings), settings)
        first_requests = await requests(url)
        again = await theme_rows(ROWS, 0, LocalCache(tmp_path), GeminiGenerator(settings), settings)
        assert await requests(url) == first_requests  # everything came from the cache

    assert first_requests == 3 + 1  # 11 texts in packs of 5, 5, 1; then b03 alone
    assert [o.result.source_id for o in outcomes] == [r.id for r in ROWS]
    for row, outcome in zip(ROWS, outcomes, strict=True):
        if row.text is None:
            assert isinstance(outcome.result, RowFailure) and "NULL" in outcome.result.error
        else:
            assert isinstance(outcome.result, ThemeRecord) and outcome.result.themes == derive_themes(row.text)
    assert sum(o.cached for o in again) == 11
    assert [o.result for o in again] == [o.result for o in outcomes]
