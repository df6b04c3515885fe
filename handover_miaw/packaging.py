"""Build the archive a user uploads, reproducibly: the same sources give a byte-identical file.

Entries are sorted, with a fixed mtime, owner and mode; the gzip header carries no name and no time. A
`checksums.sha256` index lists every other file, which `handover-miaw validate` re-checks.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from handover_miaw.manifest import load_manifest

__all__ = [
    "CHECKSUMS",
    "FIXED_MTIME",
    "MAX_PACKAGE_BYTES",
    "MAX_UNPACKED_BYTES",
    "REQUIRED_FILES",
    "BuildError",
    "BuiltPackage",
    "build_package",
    "collect_files",
    "is_excluded",
    "render_checksums",
]

MAX_PACKAGE_BYTES = 128 * 1024 * 1024
# What a package may unpack to (its tar stream: headers and files), checked as it is read; this package's own
# is about 1 MB.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
CHECKSUMS = "checksums.sha256"
# 1980-01-01: the oldest time every archive tool (zip included) can represent.
FIXED_MTIME = 315532800
TOP_FILES = ("extension.json", "icon.png", "README.md", "LICENSE", "pyproject.toml")
REQUIRED_FILES = (*TOP_FILES, "schemas/extension.schema.json", "handover_miaw/__init__.py", CHECKSUMS)
_EXCLUDED_PARTS = frozenset({"__pycache__", "tests", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class BuildError(RuntimeError):
    """The package cannot be built (invalid manifest, missing file, too large)."""


@dataclass(frozen=True, slots=True)
class BuiltPackage:
    """What build_package wrote."""

    path: Path
    size: int
    sha256: str
    files: int


def is_excluded(relative: str) -> bool:
    """True for paths that never belong in a package: tests, caches, compiled bytecode."""
    parts = relative.split("/")
    return any(part in _EXCLUDED_PARTS for part in parts) or relative.endswith(_EXCLUDED_SUFFIXES)


def collect_files(root: Path) -> dict[str, bytes]:
    """The package's files keyed by archive path, read from a source tree."""
    files: dict[str, bytes] = {}
    for name in TOP_FILES:
        source = root / name
        if not source.is_file():
            raise BuildError(f"{name} is missing from {root}")
        files[name] = source.read_bytes()
    for folder, pattern in (("schemas", "*.json"), ("handover_miaw", "*")):
        for source in sorted((root / folder).rglob(pattern)):
            relative = source.relative_to(root).as_posix()
            if source.is_file() and not source.is_symlink() and not is_excluded(relative):
                files[relative] = source.read_bytes()
    return files


def render_checksums(files: dict[str, bytes]) -> bytes:
    """The sha256sum-compatible index of every file."""
    lines = (f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    return "".join(lines).encode()


def _tar_bytes(files: Iterable[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def build_package(root: Path, out_dir: Path, *, max_bytes: int = MAX_PACKAGE_BYTES) -> BuiltPackage:
    """Validate the manifest, then write `<out_dir>/<name>-<version>.tar.gz`."""
    manifest = load_manifest(root / "extension.json")
    files = collect_files(root)
    files[CHECKSUMS] = render_checksums(files)
    archive = _tar_bytes(sorted(files.items()))
    if len(archive) > max_bytes:
        raise BuildError(f"package would be {len(archive)} bytes; the limit is {max_bytes}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{manifest.name}-{manifest.version}.tar.gz"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(archive)
    tmp.replace(path)
    return BuiltPackage(path, len(archive), hashlib.sha256(archive).hexdigest(), len(files))
