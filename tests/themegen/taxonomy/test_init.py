"""open_embedder: the taxonomy's vectors in the row cache without holding the vocabulary in memory."""

from __future__ import annotations

from prefect.filesystems import LocalFileSystem

from themegen.cache import CachedAnswer, open_cache
from themegen.cache.segments import close_all
from themegen.cache.segments.client import SegmentCache
from themegen.config.settings import Settings
from themegen.llm.gemini.client import close_clients
from themegen.llm.gemini.embedder import embedding_key
from themegen.taxonomy import VECTORS_HELD_PAGES, open_embedder


async def test_the_embedders_grouped_cache_holds_a_few_pages_of_vectors_and_the_runs_cache_keeps_its_bound(
        tmp_path, monkeypatch):
    async def aload(name: str, **_):
        return LocalFileSystem(basepath=str(tmp_path))

    monkeypatch.setattr("prefect.blocks.core.Block.aload", aload)
    settings = Settings().with_overrides(cache_block="local-file-system/c")
    settings = settings.model_copy(update={"taxonomy": settings.taxonomy.model_copy(update={"page_themes": 1_000})})
    close_all()
    try:
        run_cache = await open_cache(settings)
        vectors = (await open_embedder(settings)).cache
        assert isinstance(vectors, SegmentCache) and vectors is not run_cache
        assert run_cache.memory_entries == settings.cache.memory_entries == 500_000
        held = VECTORS_HELD_PAGES * 1_000
        keys = [embedding_key("gemini-embedding-001", 256, f"theme {i}") for i in range(3 * held)]
        for i, key in enumerate(keys):
            await vectors.put(key, CachedAnswer(raw_text=f"vector {i}"))
        assert len(vectors._entries) == held  # the map: the newest pages only
        vectors.flush()
        close_all()
        reader = await open_cache(settings)  # another process: every vector is stored
        assert len(await reader.get_many(keys)) == len(keys)
    finally:
        close_all()
        await close_clients()
