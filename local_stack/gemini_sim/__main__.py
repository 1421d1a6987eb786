"""CLI: `python -m local_stack.gemini_sim --host 127.0.0.1 --port 9070 [--rpm 60 ...]`.

One flag per SimConfig field (generated, so a new knob needs no CLI change); values are
validated by SimConfig itself. List knobs take comma-separated ids (--fail-ids a,b).
"""

import argparse
import asyncio
import signal

from pydantic import ValidationError

from .config import SimConfig
from .server import start_simulator


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.gemini_sim",
        description="Local SIMULATOR of the Gemini REST API (answers are not real model output).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9070)
    for name, info in SimConfig.model_fields.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=None,
            help=f"{info.description} (default: {info.get_default(call_default_factory=True)})",
        )
    return parser.parse_args()


def _config(args: argparse.Namespace) -> SimConfig:
    given = {n: getattr(args, n) for n in SimConfig.model_fields if getattr(args, n) is not None}
    for name, value in given.items():
        if isinstance(SimConfig.model_fields[name].get_default(call_default_factory=True), list):
            given[name] = [item for item in value.split(",") if item]
    return SimConfig.model_validate(given)


async def _serve(config: SimConfig, host: str, port: int) -> None:
    runner, base_url = await start_simulator(config, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"gemini simulator (SIMULATED) listening on {base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    args = _parse_args()
    try:
        config = _config(args)
    except ValidationError as exc:
        raise SystemExit(f"invalid simulator knobs:\n{exc}") from None
    asyncio.run(_serve(config, args.host, args.port))


if __name__ == "__main__":
    main()
