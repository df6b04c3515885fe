"""Validate files of every kind the project knows: loader → kind detection → checker → result.

Kinds: `manifest` (extension.json), `connector` (a connector configuration), `node` (Handover node
settings), `connectors` (the file `serve --connectors` reads, checked by the very code `serve` uses: the
same host policy, loopback only with `dev`) and `package` (a built archive). The reporters live in
report.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from handover_miaw.jsonload import parse_json
from handover_miaw.manifest import Manifest, check_manifest, load_manifest
from handover_miaw.problems import Problem, sort_problems
from handover_miaw.validate.package import check_package

__all__ = ["KINDS", "FileResult", "Kind", "check_document", "detect_kind", "validate_path"]

Kind = Literal["manifest", "connector", "node", "connectors", "package"]
KINDS: tuple[Kind, ...] = ("manifest", "connector", "node", "connectors", "package")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome for one file."""

    path: str
    kind: Kind | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when the file has no problem."""
        return not self.problems


def detect_kind(document: Any, manifest: Manifest) -> Kind | None:
    """Tell a manifest, a connector configuration and node settings apart by their keys."""
    if not isinstance(document, Mapping):
        return None
    keys = set(document)
    if {"connector", "nodes"} <= keys:
        return "manifest"
    if keys == {"connectors"}:
        return "connectors"
    connector_keys = {f.key for f in manifest.connector_fields}
    node_keys = {f.key for f in manifest.node_fields}
    if keys & connector_keys and not keys & node_keys:
        return "connector"
    if keys & node_keys and not keys & connector_keys:
        return "node"
    return None


def check_document(document: Any, kind: Literal["connector", "node"], manifest: Manifest) -> list[Problem]:
    """Every problem of a connector configuration or node settings (the API's validation endpoint too)."""
    if kind == "connector":
        return manifest.connector_validator.problems(document)
    return manifest.node_validator.problems(document)


def _connectors_problems(document: Any, manifest: Manifest, dev: bool) -> list[Problem]:
    # Imported here: only this kind needs the runtime's API layer, and `validate` of a manifest stays light.
    from handover_miaw.api.connectors_file import check_connectors_document
    from handover_miaw.api.openapi import ApiDocument
    from handover_miaw.settings import ENV_PREFIX, Settings

    # The environment `serve` would read for the host policy, and nothing else of it (API keys, ports).
    names = {ENV_PREFIX + "ALLOWED_HOSTS", ENV_PREFIX + "INSECURE_DEV"}
    settings = Settings.from_sources(env={k: v for k, v in os.environ.items() if k in names})
    if dev:
        settings = replace(settings, insecure_dev=True)
    return check_connectors_document(document, ApiDocument(manifest), settings)[1]


def _check_document(document: Any, kind: Kind, path: Path, manifest: Manifest, dev: bool) -> list[Problem]:
    if kind == "manifest":
        return check_manifest(document, path.parent)
    if kind == "connectors":
        return _connectors_problems(document, manifest, dev)
    if kind == "package":
        raise ValueError("a package is checked from its file")
    return check_document(document, kind, manifest)


def validate_path(
    path: Path, kind: Kind | None = None, manifest: Manifest | None = None, *, dev: bool = False
) -> FileResult:
    """Validate one file; `kind` overrides detection; `dev` allows loopback MIAW URLs in a connectors
    file, as `serve --insecure-dev` does."""
    name = str(path)
    if path.is_dir():
        return FileResult(name, kind, [Problem("", "is a directory; name the files to validate")])
    if not path.is_file():
        return FileResult(name, kind, [Problem("", "no such file")])
    if kind == "package" or (kind is None and name.endswith(_ARCHIVE_SUFFIXES)):
        return FileResult(name, "package", sort_problems(check_package(path)))
    document, problems = parse_json(path.read_bytes())
    if problems and document is None:
        return FileResult(name, kind, problems)
    manifest = manifest or load_manifest()
    detected = kind or detect_kind(document, manifest)
    if detected is None:
        reason = (
            "cannot tell whether this is a manifest, a connector configuration, node settings or a connectors "
            "file; pass --kind"
        )
        return FileResult(name, None, [*problems, Problem("", reason)])
    return FileResult(
        name, detected, sort_problems([*problems, *_check_document(document, detected, path, manifest, dev)])
    )
