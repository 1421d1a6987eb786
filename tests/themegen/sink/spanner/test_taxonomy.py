"""The Spanner sink's taxonomy tables on the emulator: what the contract test cannot reach."""

from __future__ import annotations

from google.api_core.exceptions import ResourceExhausted

from themegen.config.settings import Settings
from themegen.domain.models import ThemeRecord
from themegen.sink.spanner.client import SpannerSink, Writes
from themegen.taxonomy.models import ThemeMapping


def record(i: int) -> ThemeRecord:
    return ThemeRecord(source_id=f"s-{i:04d}", themes=[f"t{i % 7}", f"u{i}", "same", "配送", f"v{i}", f"t{i % 3}"],
                       model="m", prompt_version="v1", prompt_fingerprint="fp", input_hash="0" * 64)


async def test_distinct_themes_too_many_for_one_query_are_read_in_hash_parts(stack, monkeypatch):
    """A query refused for memory (429, as the emulator's 128 MB bound refuses a vocabulary of 200,000
    themes) is split into hash parts until each fits: every theme comes once, counted as one query
    would, in the same order every time."""
    stack.clear_outputs()
    sink = SpannerSink(Settings())
    await sink.write(Writes(themes=[record(i) for i in range(60)]), flow_run_id=None)
    await sink.write_mappings([ThemeMapping(theme="same", canonical_id="L1-00001", fingerprint="fp")])
    whole = [d for page in [p async for p in sink.distinct_themes(page_size=25)] for d in page]

    part, asked = sink._distinct_part, []

    def bounded(modulus: int, residue: int):
        asked.append((modulus, residue))
        if modulus < 4:  # as if parts of more than a quarter of the themes were too many groups
            raise ResourceExhausted("Out of memory for MemoryAccountant")
        yield from part(modulus, residue)

    monkeypatch.setattr(sink, "_distinct_part", lambda m, r: iter(bounded(m, r)))
    parts = [d for page in [p async for p in sink.distinct_themes(page_size=25)] for d in page]
    again = [d for page in [p async for p in sink.distinct_themes(page_size=7)] for d in page]

    assert sorted(parts, key=lambda d: d.theme) == sorted(whole, key=lambda d: d.theme)
    assert len(whole) == len({d.theme for d in whole}) == 7 + 60 + 1 + 1 + 60
    assert {d.theme: (d.mentions, d.mapped, d.canonical_id) for d in parts}["same"] == (60, True, "L1-00001")
    assert [d.theme for d in again] == [d.theme for d in parts]
    assert {m for m, _ in asked} == {1, 2, 4} and sorted(r for m, r in asked if m == 4) == [0, 0, 1, 1, 2, 2, 3, 3]
