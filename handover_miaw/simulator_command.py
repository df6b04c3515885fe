"""The ``handover-miaw simulator`` flags for browser clients (TLS, CORS of the MIAW and of the control routes,
Last-Event-Id, retention) and the TLS set-up they ask for; ``handover_miaw.cli`` wires them in.

Outside the simulator package on purpose: every command builds the whole argument parser, and importing
the simulator package (aiohttp app, cryptography) would slow the start of ``validate`` too.
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["TlsError", "add_arguments", "config_options", "serving_tls"]


class TlsError(Exception):
    """The TLS flags are inconsistent, or a certificate or key cannot be used (exit 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the TLS, CORS, stream and retention flags to the ``simulator`` command."""
    tls = parser.add_argument_group("https")
    tls.add_argument("--tls-cert", type=Path, help="serve https with this certificate chain (PEM)")
    tls.add_argument("--tls-key", type=Path, help="the private key of --tls-cert (PEM)")
    tls.add_argument("--tls", choices=["self-signed"], help="serve https with a throwaway certificate made now")
    tls.add_argument(
        "--tls-host", default="localhost", help="host name of the self-signed certificate (default: %(default)s)"
    )
    tls.add_argument("--tls-dir", type=Path, help="keep the self-signed certificate here (default: a temporary dir)")
    browser = parser.add_argument_group("browser clients")
    browser.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="page origin allowed by CORS on the MIAW routes, e.g. https://chat.example.com (repeatable; "
        "default: any origin)",
    )
    browser.add_argument(
        "--control-origin",
        action="append",
        metavar="ORIGIN",
        help="page origin also allowed by CORS on the /_sim control routes, e.g. http://devbox:3000 (repeatable; "
        "default: loopback origins only)",
    )
    browser.add_argument(
        "--require-last-event-id",
        action="store_true",
        help="answer 400 to a stream opened without Last-Event-Id (default: stream from now)",
    )
    browser.add_argument(
        "--retention-s",
        type=float,
        default=900.0,
        help="forget ended conversations and call records after this many seconds (default: %(default)s)",
    )


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``SimulatorConfig`` fields these flags set."""
    return {
        "cors_origins": frozenset(args.cors_origin) if args.cors_origin else None,
        "control_origins": frozenset(args.control_origin or ()),
        "require_last_event_id": args.require_last_event_id,
        "retention_s": args.retention_s,
    }


def _print_url(url: str) -> None:
    print(url, flush=True)


@contextlib.contextmanager
def serving_tls(args: argparse.Namespace) -> Iterator[tuple[ssl.SSLContext | None, Callable[[str], None]]]:
    """The server's TLS context (None for plain http) and what to announce once bound: the base URL on
    stdout, and for a self-signed certificate where it is and how to trust it on stderr. A temporary
    certificate is deleted on the way out."""
    from handover_miaw.simulator.tls import make_self_signed, server_context, trust_instructions

    if args.tls == "self-signed":
        if args.tls_cert or args.tls_key:
            raise TlsError("--tls self-signed makes its own certificate: leave out --tls-cert/--tls-key")
        with contextlib.ExitStack() as stack:
            directory = args.tls_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="miaw-sim-tls-")))
            made = make_self_signed(args.tls_host, directory)

            def announce(url: str) -> None:
                _print_url(url)
                print(trust_instructions(made, urlsplit(url).port or 443), file=sys.stderr, flush=True)

            yield server_context(made.cert, made.key), announce
        return
    if args.tls_cert is None and args.tls_key is None:
        yield None, _print_url
        return
    if args.tls_cert is None or args.tls_key is None:
        raise TlsError("--tls-cert and --tls-key go together")
    try:
        context = server_context(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"{args.tls_cert} / {args.tls_key}: cannot serve with this certificate and key: {exc}") from exc
    yield context, _print_url
