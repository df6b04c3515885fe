"""A built package checked exactly as `handover-miaw validate` checks it, plus the forms of the manifest
inside it: what a bot platform shows once the archive is uploaded."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from handover_miaw.jsonload import parse_json
from handover_miaw.manifest import ManifestError, load_manifest
from handover_miaw.problems import sort_problems
from handover_miaw.validate.package import check_package

__all__ = ["MAX_UPLOAD_UNPACKED_BYTES", "check_archive"]

_MANIFEST = "extension.json"


def _member(tar: tarfile.TarFile, name: str) -> bytes | None:
    try:
        member = tar.getmember(name)
    except KeyError:
        return None
    extracted = tar.extractfile(member) if member.isfile() else None
    return extracted.read() if extracted is not None else None


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _inner_forms(archive: Path, folder: Path) -> dict[str, Any] | None:
    """The manifest inside the archive and its derived schemas, or None when it does not load.

    Only the manifest and its icon are read, by name, into a folder of our own: nothing is extracted."""
    with tarfile.open(archive, mode="r:gz") as tar:
        raw = _member(tar, _MANIFEST)
        if raw is None:
            return None
        document, problems = parse_json(raw)
        icon = document.get("icon") if not problems and isinstance(document, dict) else None
        if isinstance(icon, str) and _safe(icon) and (data := _member(tar, icon)) is not None:
            (folder / icon).parent.mkdir(parents=True, exist_ok=True)
            (folder / icon).write_bytes(data)
    (folder / _MANIFEST).write_bytes(raw)
    try:
        manifest = load_manifest(folder / _MANIFEST)
    except ManifestError:
        return None
    return {
        "manifest": manifest.document,
        "schemas": {"connectorConfig": manifest.connector_schema, "nodeSettings": manifest.node_schema},
    }


# An upload is checked in the runtime's memory, a few at once: far less than a local file may unpack to.
MAX_UPLOAD_UNPACKED_BYTES = 64 * 1024 * 1024


def check_archive(data: bytes, *, max_unpacked: int = MAX_UPLOAD_UNPACKED_BYTES) -> dict[str, Any]:
    """`{valid, problems, manifest?, schemas?}` for the archive's bytes; never raises on bad input. Reading
    stops once its contents pass `max_unpacked` bytes (a problem without a pointer)."""
    with tempfile.TemporaryDirectory(prefix="handover-miaw-check-") as folder:
        archive = Path(folder) / "package.tar.gz"
        archive.write_bytes(data)
        problems = sort_problems(check_package(archive, max_unpacked=max_unpacked))
        result: dict[str, Any] = {"valid": not problems, "problems": [p.as_dict() for p in problems]}
        if any(p.pointer == "" for p in problems):
            return result  # not a readable archive at all
        inner = Path(folder) / "inner"
        inner.mkdir()
        try:
            forms = _inner_forms(archive, inner)
        except (tarfile.TarError, OSError, EOFError, ValueError):
            forms = None
        if forms is not None:
            result.update(forms)
        return result
