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

    return all_ddl(settings.spanner.table, settings.spanner.failures_table, settings.spanner.judgements_table)
