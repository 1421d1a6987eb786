"""Cloud Spanner sink: factory (the client is imported only when a Spanner sink is opened)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from themegen.config.settings import Settings
    from themegen.sink import Sink


def open_sink(settings: Settings) -> Sink:
    from themegen.sink.spanner.client import SpannerSink

    return SpannerSink(settings)


def ddl(settings: Settings) -> list[str]:
    from themegen.sink.spanner.schema import all_ddl

    s = settings.spanner
    return all_ddl(s.table, s.failures_table, s.judgements_table, s.canonical_table, s.theme_map_table,
                   settings.taxonomy.embed_dimensions)
