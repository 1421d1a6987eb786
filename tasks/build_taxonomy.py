"""Step 3c: the taxonomy (themegen/taxonomy): the sink's distinct themes embedded, clustered into
canonical themes and groups, named, and mapped, in the sink; never fails the run (errors are reported)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from themegen.config.settings import Settings
from themegen.llm.gemini.client import close_clients
from themegen.pricing.cost import cost_usd
from themegen.sink import open_sink
from themegen.taxonomy import open_embedder, open_namer
from themegen.taxonomy.build import build_taxonomy as build
from themegen.taxonomy.models import TaxonomyReport


def taxonomy_cost(report: TaxonomyReport, settings: Settings) -> float | None:
    """Embedding + naming at the standard price; None when either model's price is unknown."""
    backend = settings.gemini.backend
    embedding = cost_usd(report.embed_model, report.embed_usage.input_tokens, 0, backend=backend)
    naming = cost_usd(report.name_model, report.name_usage.input_tokens, report.name_usage.output_tokens,
                      backend=backend)
    return None if embedding is None or naming is None else embedding + naming


@task(name="build-taxonomy", cache_policy=NO_CACHE)
async def build_taxonomy(settings: Settings, stop_reason: str | None = None, shard: int | None = None) -> TaxonomyReport:
    """shard: the run is one shard of generate-themes-sharded, whose parent builds the taxonomy once its
    shards are done (shards building it side by side would cluster the same new themes twice)."""
    if not settings.taxonomy.enabled:
        return TaxonomyReport(enabled=False, why_not="THEMEGEN_TAXONOMY_ENABLED=false")
    if shard is not None:
        return TaxonomyReport(enabled=False, why_not="a shard run: generate-themes-sharded builds it after its shards")
    if stop_reason:  # a per-day quota or a sink outage: nothing more is sent
        return TaxonomyReport(error=f"not built: the run stopped ({stop_reason}); a later run builds it")
    names = {"embed_model": settings.taxonomy.embed_model, "name_model": settings.taxonomy.name_model or settings.model}
    sink, embedder, namer = None, None, None
    try:
        sink, embedder, namer = open_sink(settings), await open_embedder(settings), await open_namer(settings)
        report = await build(settings.taxonomy, sink, embedder, namer)
    except Exception as exc:  # noqa: BLE001 - reported; the themes are written already
        report = TaxonomyReport(error=f"{type(exc).__name__}: {str(exc)[:300]}")
        if embedder is not None and namer is not None:  # what was spent before the error
            report.embed_usage, report.name_usage = embedder.usage, namer.usage
    finally:
        if sink is not None:
            sink.close()
        await close_clients()
    report.embed_model, report.name_model = names["embed_model"], names["name_model"]
    report.cost_usd = taxonomy_cost(report, settings)
    print(f"taxonomy: {report.distinct_themes:,} distinct themes, {report.themes_embedded:,} embedded, "
          f"{report.new_canonical} new canonical themes ({report.canonical} in all, {report.groups} groups), "
          f"{100 * (1 - report.unclustered_share):.1f}% of mentions mapped"
          + (f"; error: {report.error}" if report.error else ""))
    return report
