"""The connectors file loaded at start: `{"connectors": {"<name>": {"config": {...}, "delivery": {...}}}}`.

Every entry is checked like a PUT /v1/connectors/{name} body; any problem refuses the start, naming the
file, the JSON Pointer and the reason, so the runtime never runs half-configured.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from handover_miaw.api.connector_checks import check_connector_hosts, check_connector_targets
from handover_miaw.api.openapi import ApiDocument
from handover_miaw.errors import SchemaViolationError
from handover_miaw.jsonload import parse_json
from handover_miaw.logs import DELIVERY_SECRETS, secrets
from handover_miaw.names import connector_name_problem
from handover_miaw.problems import Problem, pointer
from handover_miaw.settings import Settings
from handover_miaw.store.records import ConnectorRecord

__all__ = ["ConnectorsFileError", "check_connectors_document", "load_connectors_file"]


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


def _connector_record(name: str, body: dict[str, Any]) -> ConnectorRecord:
    # Registered for redaction at once: a later problem of the file must not be able to echo a secret.
    secrets.add(*(body["delivery"].get(key) for key in DELIVERY_SECRETS))
    return ConnectorRecord(name=name, config=body["config"], delivery=body["delivery"], updated_at=time.time())


def load_connectors_file(path: Path, api: ApiDocument, settings: Settings) -> list[ConnectorRecord]:
    """Read and check every connector of the file; raise ConnectorsFileError listing every problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConnectorsFileError(path, [Problem("", f"cannot read the file: {exc.strerror}")]) from exc
    document, problems = parse_json(raw)
    if problems:
        raise ConnectorsFileError(path, problems)
    records, found = check_connectors_document(document, api, settings)
    if found:
        raise ConnectorsFileError(path, found)
    return records


def check_connectors_document(
    document: Any, api: ApiDocument, settings: Settings
) -> tuple[list[ConnectorRecord], list[Problem]]:
    """The connectors of a parsed connectors file and every problem found in it; `serve` and
    `handover-miaw validate` both check a file through here, so both apply the same rules."""
    if not isinstance(document, dict) or not isinstance(document.get("connectors"), dict):
        return [], [Problem("", 'expected {"connectors": {"<name>": {"config", "delivery"}}}')]
    records: list[ConnectorRecord] = []
    found: list[Problem] = []
    for name, body in document["connectors"].items():
        base = pointer(["connectors", name])
        # A bad name is one problem among the file's others: the entry's body is still checked.
        if (reason := connector_name_problem(name)) is not None:
            found.append(Problem(base, reason))
        try:
            api.validate("putConnector", body)
            check_connector_hosts(settings, body, base)
            check_connector_targets(settings, body, base)
        except SchemaViolationError as exc:
            found.extend(
                Problem(p.pointer if p.pointer.startswith(base) else base + p.pointer, p.message) for p in exc.problems
            )
            continue
        records.append(_connector_record(name, body))
    return records, found
