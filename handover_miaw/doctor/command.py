"""`handover-miaw doctor`: the command line around `run_doctor`, and its remote form (`--runtime`), which asks
a running runtime to check one of its connectors (`POST /v1/connectors/{name}/check`: the secrets stay
there) and prints its answer the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from handover_miaw.api.openapi import ApiDocument
from handover_miaw.doctor.inputs import DoctorInput, from_connectors_file, from_flags, load_node_settings
from handover_miaw.doctor.report import Report, render_json, render_text, report_from_json
from handover_miaw.doctor.runner import DoctorOptions, run_doctor
from handover_miaw.manifest import load_manifest
from handover_miaw.problems import Problem
from handover_miaw.settings import Settings

__all__ = ["add_parser", "run_command"]

EXIT_INTERNAL, EXIT_INVALID = 1, 2
# Environment variables for secrets, which never go on a command line (it is visible to every user).
WEBHOOK_SECRET_ENV = "HANDOVER_MIAW_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a secret)
API_KEY_ENV = "HANDOVER_MIAW_API_KEY"


def add_parser(commands: Any) -> None:
    """Add the `doctor` subcommand to the CLI's subparsers."""
    doctor = commands.add_parser(
        "doctor",
        help="check a live MIAW deployment before the first handover and say how to fix what is wrong",
        description=(
            "Seven checks, one line each: configuration, MIAW endpoint, deployment, token and event stream, "
            "routing attributes, identity tokens, delivery target. Exit 0 nothing fails, 2 something fails, "
            "1 a check could not run."
        ),
    )
    doctor.add_argument("name", nargs="?", help="the connector to check (in --connectors or on --runtime)")
    doctor.add_argument("--connectors", type=Path, help="connectors file, as serve takes it")
    doctor.add_argument(
        "--runtime", help="check the connector on this running runtime (API key in $" + API_KEY_ENV + ")"
    )
    doctor.add_argument("--base-url", dest="base_url", help="a connector from flags: the Code Snippet's Url")
    doctor.add_argument("--org-id", dest="org_id", help="a connector from flags: the Organization ID")
    doctor.add_argument("--es-developer-name", dest="es_developer_name", help="a connector from flags: the API Name")
    doctor.add_argument("--capabilities-version", dest="capabilities_version", help='default "1"')
    doctor.add_argument(
        "--webhook-url",
        dest="webhook_url",
        help="a connector from flags: webhook (secret in $" + WEBHOOK_SECRET_ENV + ")",
    )
    doctor.add_argument(
        "--node-settings",
        dest="node_settings",
        type=Path,
        action="append",
        metavar="FILE",
        help="Handover node settings to check against the deployment (repeatable)",
    )
    doctor.add_argument("--identity-token-file", dest="identity_token_file", type=Path, help="a sample identity token")
    doctor.add_argument("--format", choices=("text", "json"), default="text", help="output (default: %(default)s)")
    doctor.add_argument(
        "--check-timeout-s",
        dest="check_timeout_s",
        type=float,
        default=10.0,
        help="seconds per check (default: %(default)s)",
    )
    doctor.add_argument(
        "--timeout-s", dest="timeout_s", type=float, default=60.0, help="seconds in all (default: %(default)s)"
    )
    doctor.add_argument("--ca-file", dest="ca_file", type=Path, help="also trust this CA (PEM), e.g. a TLS proxy's")
    doctor.add_argument(
        "--insecure-dev",
        dest="insecure_dev",
        action="store_true",
        default=None,
        help="development mode, as serve: loopback MIAW and delivery URLs allowed",
    )
    doctor.set_defaults(handler=run_command)


def _identity_token(path: Path | None) -> tuple[str | None, list[Problem]]:
    if path is None:
        return None, []
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("", f"{path}: cannot read the identity token: {exc}")]
    return token or None, [] if token else [Problem("", f"{path}: the identity token file is empty")]


def _from_flags(args: argparse.Namespace) -> DoctorInput:
    values = {
        "baseUrl": args.base_url,
        "organizationId": args.org_id,
        "esDeveloperName": args.es_developer_name,
        "capabilitiesVersion": args.capabilities_version,
    }
    config = {key: value for key, value in values.items() if value is not None}
    delivery = None
    if args.webhook_url:
        delivery = {"format": "webhook", "url": args.webhook_url, "secret": os.environ.get(WEBHOOK_SECRET_ENV, "")}
    return from_flags(config, delivery)


def _print(report: Report, fmt: str) -> int:
    print(render_json(report) if fmt == "json" else render_text(report))
    return report.exit_code


async def _remote(args: argparse.Namespace, nodes: list[tuple[str, dict[str, Any]]], token: str | None) -> int:
    body: dict[str, Any] = {"nodeSettings": [settings for _, settings in nodes]}
    if token:
        body["identityToken"] = token
    headers = {"Authorization": f"Bearer {os.environ.get(API_KEY_ENV, '')}"}
    url = f"{args.runtime.rstrip('/')}/v1/connectors/{args.name}/check"
    # The runtime runs every check under its own limits; this one only bounds waiting for its answer.
    timeout = aiohttp.ClientTimeout(total=args.timeout_s + 10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            raw = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"doctor: the runtime at {args.runtime} did not answer ({type(exc).__name__})", file=sys.stderr)
        return EXIT_INTERNAL
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        document = None
    if status == 200 and isinstance(document, dict):
        return _print(report_from_json(document), args.format)
    error = document.get("error", {}) if isinstance(document, dict) else {}
    print(f"doctor: the runtime answered HTTP {status}: {error.get('message', '')}".rstrip(": "), file=sys.stderr)
    return EXIT_INVALID if status in (404, 422) else EXIT_INTERNAL


def run_command(args: argparse.Namespace) -> int:
    """Run the doctor from parsed arguments; return the exit code."""
    settings = Settings.from_sources(argparse.Namespace(insecure_dev=args.insecure_dev))
    manifest = load_manifest()
    nodes, node_problems = load_node_settings(args.node_settings or [], manifest)
    token, token_problems = _identity_token(args.identity_token_file)
    if args.ca_file is not None and not args.ca_file.is_file():
        print(f"doctor: --ca-file {args.ca_file}: no such file", file=sys.stderr)
        return EXIT_INVALID
    if args.runtime:
        if not args.name:
            print("doctor: name the connector to check on the runtime", file=sys.stderr)
            return EXIT_INVALID
        if node_problems or token_problems:
            for problem in node_problems + token_problems:
                print(f"doctor: {problem.message}", file=sys.stderr)
            return EXIT_INVALID
        return asyncio.run(_remote(args, nodes, token))
    connectors = args.connectors or settings.connectors
    if connectors is None and args.base_url is None:
        print(
            "doctor: say which connector: --connectors FILE (or $HANDOVER_MIAW_CONNECTORS), --runtime URL, "
            "or --base-url, --org-id and --es-developer-name",
            file=sys.stderr,
        )
        return EXIT_INVALID
    doctor_input = from_connectors_file(connectors, args.name) if connectors else _from_flags(args)
    doctor_input = replace(
        doctor_input,
        problems=doctor_input.problems + tuple(node_problems + token_problems),
        nodes=tuple(nodes),
        identity_token=token,
    )
    options = DoctorOptions(settings, args.check_timeout_s, args.timeout_s, args.ca_file)
    report = asyncio.run(run_doctor(doctor_input, options, manifest, ApiDocument(manifest)))
    return _print(report, args.format)
