"""The connectors file loaded at start: `{"connectors": {"<name>": {"config": {...}, "delivery": {...}}}}`.

Every entry is checked like a PUT /v1/connectors/{name} body; any problem refuses the start, naming the
file, the JSON Pointer and the reason, so the runtime never runs half-configured.
"""

from __future__ import annotations

import re
from pathlib import Path

from handover_miaw.api.openapi import ApiDocument
from handover_miaw.api.routes_admin import check_connector_hosts, check_connector_targets, connector_record
from handover_miaw.errors import SchemaViolationError
from handover_miaw.jsonload import parse_json
from handover_miaw.problems import Problem, pointer
from handover_miaw.settings import Settings
from handover_miaw.store.records import ConnectorRecord

__all__ = ["ConnectorsFileError", "load_connectors_file"]

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class ConnectorsFileError(ValueError):
    """The connectors file is invalid; `problems` lists every finding."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(_line(path, p) for p in problems))


def _line(path: Path, problem: Problem) -> str:
    # As `handover-miaw validate` reports: a JSON syntax error by position, anything else by pointer.
    if problem.line is not None:
        return f"{path}:{problem.line}:{problem.column or 0}: {problem.message}"
    return f"{path}: {problem.pointer or '/'}: {problem.message}"


def load_connectors_file(path: Path, api: ApiDocument, settings: Settings) -> list[ConnectorRecord]:
    """Read and check every connector of the file; raise ConnectorsFileError listing every problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConnectorsFileError(path, [Problem("", f"cannot read the file: {exc.strerror}")]) from exc
    document, problems = parse_json(raw)
    if problems:
        raise ConnectorsFileError(path, problems)
    if not isinstance(document, dict) or not isinstance(document.get("connectors"), dict):
        raise ConnectorsFileError(path, [Problem("", 'expected {"connectors": {"<name>": {"config", "delivery"}}}')])
    records: list[ConnectorRecord] = []
    found: list[Problem] = []
    for name, body in document["connectors"].items():
        base = pointer(["connectors", name])
        if not _NAME.fullmatch(name):
            found.append(Problem(base, "connector names are lowercase letters, digits, '-' and '_'"))
            continue
        try:
            api.validate("putConnector", body)
            check_connector_hosts(settings, body, base)
            check_connector_targets(settings, body, base)
        except SchemaViolationError as exc:
            found.extend(
                Problem(p.pointer if p.pointer.startswith(base) else base + p.pointer, p.message) for p in exc.problems
            )
            continue
        records.append(connector_record(name, body))
    if found:
        raise ConnectorsFileError(path, found)
    return records
