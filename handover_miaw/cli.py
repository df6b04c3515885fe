"""The `handover-miaw` command: validate, and (as they land) simulator, serve and demo.

Exit codes: 0 success, 2 invalid input, 1 internal failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from handover_miaw import __version__
from handover_miaw.validate import KINDS, render_json, render_text, validate_path

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID = 0, 1, 2


def _cmd_validate(args: argparse.Namespace) -> int:
    results = [validate_path(Path(p), args.kind) for p in args.paths]
    render = render_json if args.format == "json" else render_text
    print(render(results))
    return EXIT_OK if all(r.valid for r in results) else EXIT_INVALID


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handover-miaw", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"handover-miaw {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser(
        "validate",
        help="validate manifests, connector configurations, node settings and built packages",
        description="Report every problem, one per line: file, JSON Pointer, reason. Exit 0 valid, 2 invalid.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("--kind", choices=KINDS, help="what the files are (default: detected)")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(handler=_cmd_validate)
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
