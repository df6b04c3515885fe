"""The runtime in its own process, as `handover-miaw serve` runs it, on a free port printed at start.

`python -m bench._runtime --data-dir D [--store URL] [--uvloop] [--log-level L]`. Over TLS the simulator's
self-signed certificate is trusted through OpenSSL's standard `SSL_CERT_FILE` variable, set by the caller.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from aiohttp.log import access_logger

from bench.processes import run_child, serve_until_signalled
from bench.stalls import watch_stalls
from handover_miaw.api import create_app, server_options
from handover_miaw.api.app import tune_gc
from handover_miaw.logs import configure_logging
from handover_miaw.settings import Settings


async def main(args: argparse.Namespace) -> None:
    # Other settings (e.g. the soak's HANDOVER_MIAW_RETENTION_S) come from the environment, as for serve.
    settings = replace(
        Settings.from_sources(),
        data_dir=Path(args.data_dir),
        store=args.store,
        insecure_dev=True,
        log_level=args.log_level,
        port=0,
    )
    configure_logging(settings.log_level)
    app = create_app(settings)
    tune_gc()  # as serve does
    if stalls_ms := os.environ.get("BENCH_STALLS"):
        watch_stalls(float(stalls_ms))
    # The access line of every request, as `serve` writes it (web.run_app's default logger) at INFO.
    options = {**server_options(settings), "access_log": access_logger}
    await serve_until_signalled(app, cleanup_timeout=30, server_options=options)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--store")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--log-level", default="WARNING")
    arguments = parser.parse_args()
    run_child(main(arguments), use_uvloop=arguments.uvloop)
