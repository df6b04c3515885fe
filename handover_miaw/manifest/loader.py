"""The one pipeline that turns extension.json into the runtime's contract.

read → parse (duplicate keys, syntax position) → check against schemas/extension.schema.json → semantic
checks (references, uniqueness, defaults, icon) → derive the connector-configuration and node-settings
schemas → compile their validators once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from handover_miaw.jsonload import parse_json
from handover_miaw.manifest.checks import check_icon, check_manifest_semantics
from handover_miaw.manifest.fields import (
    Field,
    apply_defaults,
    object_schema,
    parse_connector_field,
    parse_node_field,
)
from handover_miaw.problems import Problem, sort_problems
from handover_miaw.resources import project_root, schema_path
from handover_miaw.schema import CompiledSchema

__all__ = [
    "CONNECTOR_SCHEMA_ID",
    "HANDOVER_NODE",
    "NODE_SCHEMA_ID",
    "Manifest",
    "ManifestError",
    "check_manifest",
    "load_manifest",
    "manifest_schema",
]

HANDOVER_NODE = "handoverToAgent"
CONNECTOR_SCHEMA_ID = "urn:handover-miaw:connector-config"
NODE_SCHEMA_ID = "urn:handover-miaw:node-settings"

_manifest_validator: CompiledSchema | None = None


class ManifestError(ValueError):
    """The manifest is invalid; `problems` lists every finding."""

    code = "invalid_manifest"

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        first = problems[0]
        super().__init__(f"{path}: {len(problems)} problem(s); first: {first.pointer or '/'}: {first.message}")


def manifest_schema() -> CompiledSchema:
    """The compiled schema of the manifest itself (compiled once)."""
    global _manifest_validator
    if _manifest_validator is None:
        _manifest_validator = CompiledSchema(orjson.loads(schema_path("extension.schema.json").read_bytes()))
    return _manifest_validator


def check_manifest(document: Any, base_dir: Path) -> list[Problem]:
    """Every problem of a parsed manifest document; the icon is looked up relative to base_dir."""
    problems = manifest_schema().problems(document)
    if problems:
        return problems
    icon_name = document["icon"]
    icon_file = base_dir / icon_name
    icon = icon_file.read_bytes() if icon_file.is_file() else None
    return sort_problems([*check_manifest_semantics(document), *check_icon(icon, icon_name)])


@dataclass(frozen=True, slots=False)
class Manifest:
    """A checked manifest and what derives from it."""

    document: Mapping[str, Any]
    path: Path

    @property
    def name(self) -> str:
        """The package name."""
        return str(self.document["name"])

    @property
    def version(self) -> str:
        """The package version."""
        return str(self.document["version"])

    @cached_property
    def connector_fields(self) -> tuple[Field, ...]:
        """The connector's declared fields, in manifest order."""
        return tuple(parse_connector_field(raw) for raw in self.document["connector"]["fields"])

    @cached_property
    def node_fields(self) -> tuple[Field, ...]:
        """The Handover to Agent node's declared fields, in manifest order."""
        for node in self.document["nodes"]:
            if node["type"] == HANDOVER_NODE:
                return tuple(parse_node_field(raw) for raw in node["fields"])
        raise KeyError(HANDOVER_NODE)

    @cached_property
    def connector_schema(self) -> dict[str, Any]:
        """JSON Schema of a connector configuration."""
        return object_schema(self.connector_fields, title="Connector configuration", schema_id=CONNECTOR_SCHEMA_ID)

    @cached_property
    def node_schema(self) -> dict[str, Any]:
        """JSON Schema of the Handover to Agent node's settings."""
        return object_schema(self.node_fields, title="Handover node settings", schema_id=NODE_SCHEMA_ID)

    @cached_property
    def connector_validator(self) -> CompiledSchema:
        """Compiled validator of a connector configuration."""
        return CompiledSchema(self.connector_schema)

    @cached_property
    def node_validator(self) -> CompiledSchema:
        """Compiled validator of node settings."""
        return CompiledSchema(self.node_schema)

    @cached_property
    def secret_keys(self) -> frozenset[str]:
        """Keys of every field declared secret, connector or node."""
        return frozenset(f.key for f in (*self.connector_fields, *self.node_fields) if f.is_secret)

    def connector_with_defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A connector configuration with its defaults filled in."""
        return apply_defaults(self.connector_fields, config)

    def node_with_defaults(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Node settings with their defaults filled in."""
        return apply_defaults(self.node_fields, settings)


def load_manifest(path: Path | None = None) -> Manifest:
    """Load and check a manifest (the project's own by default); raise ManifestError listing every problem."""
    path = path or project_root() / "extension.json"
    document, problems = parse_json(path.read_bytes())
    if not problems:
        problems = check_manifest(document, path.parent)
    if problems:
        raise ManifestError(path, problems)
    return Manifest(document=document, path=path)
