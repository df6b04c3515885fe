"""Reporters for validation results: one line per problem as text, or one JSON document."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from handover_miaw.problems import Problem
from handover_miaw.validate.runner import FileResult

__all__ = ["render_json", "render_text"]


def _line(path: str, problem: Problem) -> str:
    if problem.line is not None:
        return f"{path}:{problem.line}:{problem.column}: {problem.message}"
    return f"{path}: {problem.pointer or '/'}: {problem.message}"


def render_text(results: Sequence[FileResult]) -> str:
    """Every problem on its own line (file, JSON Pointer, reason), then one summary line."""
    lines = [_line(result.path, problem) for result in results for problem in result.problems]
    invalid = [r for r in results if not r.valid]
    if invalid:
        count = sum(len(r.problems) for r in invalid)
        lines.append(f"invalid: {len(invalid)} of {len(results)} file(s), {count} problem(s)")
    else:
        kinds = ", ".join(f"{r.path} ({r.kind})" for r in results)
        lines.append(f"ok: {len(results)} file(s) valid: {kinds}")
    return "\n".join(lines)


def render_json(results: Sequence[FileResult]) -> str:
    """A machine-readable report."""
    document = {
        "valid": all(r.valid for r in results),
        "files": [
            {
                "file": r.path,
                "kind": r.kind,
                "valid": r.valid,
                "problems": [p.as_dict() for p in r.problems],
            }
            for r in results
        ],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
