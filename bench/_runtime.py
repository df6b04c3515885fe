"""The runtime in its own process, as `handover-miaw serve` runs it, on a free port printed at start.

`python -m bench._runtime --data-dir D [--store URL] [--uvloop] [--log-level L]`. Over TLS the simulator's
self-signed certificate is trusted through OpenSSL's standard `SSL_CERT_FILE` variable, set by the caller.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from aiohttp import web

from bench.common import raise_nofile
from handover_miaw.api import create_app
from handover_miaw.logs import configure_logging
from handover_miaw.settings import Settings


async def main(args: argparse.Namespace) -> None:
    settings = Settings(
        data_dir=Path(args.data_dir),
        store=args.store,
        insecure_dev=True,
        log_level=args.log_level,
        port=0,
    )
    configure_logging(settings.log_level)
    runner = web.AppRunner(create_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096, shutdown_timeout=1.0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner.cleanup(), 30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--store")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--log-level", default="WARNING")
    arguments = parser.parse_args()
    raise_nofile()
    if arguments.uvloop:
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
