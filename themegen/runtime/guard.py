"""One call at the start of a flow run: the watchdog on its Prefect API and the SIGTERM guard."""

from __future__ import annotations

from themegen.config.settings import Settings
from themegen.runtime.sigterm import guard_sigterm, running_loop
from themegen.runtime.watchdog import watchdog


def guard_run(settings: Settings) -> None:
    """From the flow's body (its event loop's thread): watch this flow run's Prefect API until the
    run's final state is recorded, and bound the process's end after a SIGTERM. Outside a flow run
    (the flow's function called as a plain coroutine) there is nothing to guard."""
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    api_url = PREFECT_API_URL.value()
    sink = f"the sink ({settings.sink}, table {settings.sink_settings.table})"
    watchdog().watch(context.flow_run, api_url, settings.orchestrator_timeout_s, sink, running_loop())
    guard_sigterm(api_url)
