"""The `handover-miaw` command: serve, validate, doctor, simulator (and demo).

Exit codes: 0 success, 2 invalid input, 1 internal failure.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from handover_miaw import __version__
from handover_miaw.doctor.command import add_parser as add_doctor_parser
from handover_miaw.settings import add_arguments
from handover_miaw.validate import KINDS, render_json, render_text, validate_path

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID = 0, 1, 2


def _cmd_validate(args: argparse.Namespace) -> int:
    results = [validate_path(Path(p), args.kind, dev=args.dev) for p in args.paths]
    render = render_json if args.format == "json" else render_text
    print(render(results))
    return EXIT_OK if all(r.valid for r in results) else EXIT_INVALID


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.web:
        from handover_miaw.ui.demo_web import main as web_main

        return web_main(args.port, args.host, sys.stdout)
    from handover_miaw.demo import main as demo_main

    return demo_main(sys.stdout)


def _cmd_simulator(args: argparse.Namespace) -> int:
    from handover_miaw.simulator import ScriptedAgent, SimulatorConfig, run
    from handover_miaw.simulator_command import TlsError, config_options, serving_tls

    script = ScriptedAgent(accept_after_s=args.accept_after) if args.scripted_agent else None
    config = SimulatorConfig(
        org_id=args.org_id, es_developer_name=args.es_developer_name, script=script, **config_options(args)
    )
    try:
        with serving_tls(args) as (ssl_context, announce):
            run(args.host, args.port, config, ssl_context, announce)
    except TlsError as exc:
        print(f"handover-miaw: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from handover_miaw.api import create_app
    from handover_miaw.api.app import hide_server_version, server_options, tune_gc
    from handover_miaw.api.connectors_file import ConnectorsFileError, load_connectors_file
    from handover_miaw.api.half_close import answer_half_closed_requests
    from handover_miaw.api.openapi import ApiDocument
    from handover_miaw.api.server_log import answer_unparseable_requests_in_json
    from handover_miaw.descriptors import reserve_descriptors
    from handover_miaw.logs import configure_logging
    from handover_miaw.manifest import load_manifest
    from handover_miaw.settings import Settings
    from handover_miaw.store import StoreStartError, check_store

    settings = Settings.from_sources(args)
    configure_logging(settings.log_level)
    manifest = load_manifest()
    if settings.connectors is not None:
        try:
            load_connectors_file(settings.connectors, ApiDocument(manifest), settings)
        except ConnectorsFileError as exc:
            print(exc, file=sys.stderr)
            print("handover-miaw: refusing to start with an invalid connectors file", file=sys.stderr)
            return EXIT_INVALID
    if problems := settings.problems():
        for problem in problems:
            print(f"handover-miaw: {problem}", file=sys.stderr)
        return EXIT_INVALID
    try:
        check_store(settings.store_url)
    except (StoreStartError, ValueError) as exc:
        print(f"handover-miaw: refusing to start: {exc}", file=sys.stderr)
        return EXIT_INVALID
    hide_server_version()
    answer_unparseable_requests_in_json()
    answer_half_closed_requests()
    reserve_descriptors()  # before any thread starts
    app = create_app(settings, manifest)
    tune_gc()
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=_announce,
        loop=_event_loop(),
        **server_options(settings),
    )
    return EXIT_OK


def _announce(banner: str) -> None:
    """Log where the runtime listens, once its sockets are bound.

    aiohttp's run_app hands the bound addresses (the real port, also for `--port 0`) only to this
    callback, as banner text; the URLs are taken out of it and logged as one structured line."""
    import structlog

    urls = re.findall(r"https?://[^\s,]+", banner)
    structlog.get_logger("handover_miaw.cli").info("runtime.listening", url=", ".join(urls))


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: the standard loop reserves a 256 KiB buffer per TLS connection and
    uvloop does not, so each live TLS stream takes a fraction of the memory (bench/bench_concurrency.py)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handover-miaw", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"handover-miaw {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser(
        "validate",
        help="validate manifests, connector configurations, node settings, connectors files and built packages",
        description=(
            "Report every problem, one per line: file, JSON Pointer, reason. "
            "Exit codes: 0 valid, 2 invalid, 1 internal failure."
        ),
    )
    validate.add_argument(
        "paths", nargs="+", metavar="PATH", help="files to check: JSON documents or built packages (.tar.gz)"
    )
    validate.add_argument("--kind", choices=KINDS, help="what the files are (default: detected from the content)")
    validate.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one line per problem; json: one report (default: %(default)s)",
    )
    validate.add_argument(
        "--dev",
        action="store_true",
        help="connectors files: allow loopback MIAW URLs, as `serve --insecure-dev` does",
    )
    validate.set_defaults(handler=_cmd_validate)

    demo_help = "play one whole handover: simulator + runtime (SQLite, temporary) + demo bot, printed as it happens"
    demo = commands.add_parser(
        "demo",
        help=demo_help,
        description=f"{demo_help[0].upper()}{demo_help[1:]}. Everything runs in this process over loopback "
        "HTTP on free ports and is removed at the end. Exit 0 when the handover ended as expected.",
    )
    demo.add_argument("--web", action="store_true", help="serve the web UI (editor, webchat, agent desk) until stopped")
    demo.add_argument("--host", default="127.0.0.1", help="with --web: address to listen on (default: %(default)s)")
    demo.add_argument("--port", type=int, default=8080, help="with --web: port to listen on (default: %(default)s)")
    demo.set_defaults(handler=_cmd_demo)

    serve = commands.add_parser(
        "serve",
        help="run the handover runtime (the /v1 API for the bot platform)",
        description="Run the runtime. Every flag can also be set as HANDOVER_MIAW_<NAME> in the environment.",
    )
    add_arguments(serve)
    serve.set_defaults(handler=_cmd_serve)

    simulator = commands.add_parser(
        "simulator",
        help="run the MIAW simulator standalone (REST + SSE + /_sim control API)",
        description="Run the MIAW simulator; prints its base URL and runs until interrupted.",
    )
    simulator.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    simulator.add_argument(
        "--port", type=int, default=8089, help="port to listen on, 0 for any free one (default: %(default)s)"
    )
    simulator.add_argument(
        "--org-id", default="00D000000000001", help="organization id the simulator accepts (default: %(default)s)"
    )
    simulator.add_argument(
        "--es-developer-name", default="Bot_Handover_Custom", help="deployment API name (default: %(default)s)"
    )
    simulator.add_argument(
        "--scripted-agent", action="store_true", help="an agent that accepts, greets, echoes and ends by itself"
    )
    simulator.add_argument(
        "--accept-after",
        type=float,
        default=1.0,
        help="scripted agent: seconds before accepting (default: %(default)s)",
    )
    from handover_miaw.simulator_command import add_arguments as add_simulator_arguments

    add_simulator_arguments(simulator)
    simulator.set_defaults(handler=_cmd_simulator)

    add_doctor_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return EXIT_INTERNAL
    except Exception as exc:  # the documented contract: any unexpected failure is exit 1, never a traceback
        print(f"handover-miaw: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    return code
