"""What the doctor checks and where it comes from: a connector (from a connectors file, from flags or from
the runtime's store), node settings files and a sample identity token; and check 1, whether all of it is
valid as `serve` would judge it (schema, formats, host policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handover_miaw.api.connector_checks import check_connector_hosts, check_connector_targets
from handover_miaw.api.openapi import ApiDocument
from handover_miaw.doctor.miaw_verdicts import config_verdict
from handover_miaw.doctor.report import Finding
from handover_miaw.errors import SchemaViolationError
from handover_miaw.jsonload import parse_json
from handover_miaw.manifest import Manifest
from handover_miaw.problems import Problem, pointer
from handover_miaw.settings import Settings

__all__ = [
    "DoctorInput",
    "check_configuration",
    "from_connectors_file",
    "from_flags",
    "load_node_settings",
]


@dataclass(frozen=True)
class DoctorInput:
    """One connector to check: `body` is `{"config", "delivery"?}`; `problems` are what loading found."""

    name: str | None
    body: dict[str, Any] | None
    problems: tuple[Problem, ...] = ()
    nodes: tuple[tuple[str, dict[str, Any]], ...] = ()
    identity_token: str | None = field(default=None, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        """The connector configuration (empty when it could not be loaded)."""
        config = (self.body or {}).get("config")
        return config if isinstance(config, dict) else {}

    @property
    def delivery(self) -> dict[str, Any] | None:
        """Where deliveries go, when known."""
        delivery = (self.body or {}).get("delivery")
        return delivery if isinstance(delivery, dict) else None

    def secrets(self) -> list[str]:
        """Every secret value this input holds (to redact from the report)."""
        values = [self.identity_token]
        delivery = self.delivery or {}
        values += [delivery.get("secret"), delivery.get("apiKey")]
        values += [settings.get("identityToken") for _, settings in self.nodes]
        return [v for v in values if isinstance(v, str) and v]


def _read(path: Path) -> tuple[Any, list[Problem]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem("", f"{path}: cannot read the file: {exc.strerror}")]
    document, problems = parse_json(raw)
    located = [Problem(p.pointer, f"{path}:{p.line}:{p.column}: {p.message}") for p in problems if p.line]
    return document, located + [Problem(p.pointer, f"{path}: {p.message}") for p in problems if not p.line]


def from_connectors_file(path: Path, name: str | None) -> DoctorInput:
    """The named connector of a connectors file (the only one when `name` is None)."""
    document, problems = _read(path)
    if problems:
        return DoctorInput(name, None, tuple(problems))
    connectors = document.get("connectors") if isinstance(document, dict) else None
    if not isinstance(connectors, dict):
        return DoctorInput(name, None, (Problem("", f'{path}: expected {{"connectors": {{"<name>": {{…}}}}}}'),))
    if name is None and len(connectors) == 1:
        name = next(iter(connectors))
    if name is None or name not in connectors:
        known = ", ".join(sorted(connectors)) or "none"
        reason = f"no connector named {name!r}" if name else "name the connector to check"
        return DoctorInput(name, None, (Problem("", f"{path}: {reason} (the file has: {known})"),))
    body = connectors[name]
    if not isinstance(body, dict):
        return DoctorInput(name, None, (Problem(pointer(["connectors", name]), "expected an object"),))
    return DoctorInput(name, body)


def from_flags(config: dict[str, Any], delivery: dict[str, Any] | None) -> DoctorInput:
    """A connector given on the command line."""
    body: dict[str, Any] = {"config": config}
    if delivery is not None:
        body["delivery"] = delivery
    return DoctorInput(None, body)


def load_node_settings(
    paths: Sequence[Path], manifest: Manifest
) -> tuple[list[tuple[str, dict[str, Any]]], list[Problem]]:
    """Node settings files, each checked against the node schema; problems name the file and pointer."""
    nodes: list[tuple[str, dict[str, Any]]] = []
    problems: list[Problem] = []
    for path in paths:
        document, found = _read(path)
        if not found:
            found = [
                Problem(p.pointer, f"{path}: {p.pointer or '/'}: {p.message}")
                for p in manifest.node_validator.problems(document)
            ]
        if found:
            problems += found
        else:
            nodes.append((path.name, document))
    return nodes, problems


def check_configuration(doctor_input: DoctorInput, settings: Settings, manifest: Manifest, api: ApiDocument) -> Finding:
    """Check 1: the connector as `PUT /v1/connectors/{name}` and `serve` would judge it, plus node settings."""
    problems = list(doctor_input.problems)
    body = doctor_input.body
    if body is not None:
        try:
            if "delivery" in body:
                api.validate("putConnector", body)
            else:
                # From flags without a delivery target: the configuration alone.
                found = manifest.connector_validator.problems(body.get("config"))
                if found:
                    raise SchemaViolationError([Problem("/config" + p.pointer, p.message) for p in found])
            check_connector_hosts(settings, body)
            if "delivery" in body:
                # The delivery target policy serve applies (https, public addresses outside development mode).
                check_connector_targets(settings, body)
        except SchemaViolationError as exc:
            problems += exc.problems
    config = doctor_input.config
    base_url = config.get("baseUrl") if isinstance(config.get("baseUrl"), str) else None
    deployment = str(config.get("esDeveloperName") or "<deployment>")
    return config_verdict(problems, base_url, deployment)
