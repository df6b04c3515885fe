"""Check a built package the way an upload would: layout, manifest inside, every checksum, no tricks.

Each problem is located by the entry's path in the archive (`extension.json#/pointer` inside the
manifest). Rejects absolute paths, `..` entries, links and devices, tampered, missing or unlisted files, caches and
tests, and anything over the size limit.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, cast

from handover_miaw.jsonload import parse_json
from handover_miaw.manifest import check_manifest
from handover_miaw.packaging import CHECKSUMS, MAX_PACKAGE_BYTES, MAX_UNPACKED_BYTES, REQUIRED_FILES, is_excluded
from handover_miaw.problems import Problem

__all__ = ["check_package"]


def _entry(name: str) -> str:
    # A problem of a package names the archive entry by its path, as a person reads it
    # (`handover_miaw/README.md`), not as a JSON Pointer escapes it (`/entries/handover_miaw~1README.md`).
    return name


def _unsafe_name(name: str) -> str | None:
    path = PurePosixPath(name)
    if name.startswith("/") or path.is_absolute():
        return "absolute path in archive"
    if ".." in path.parts:
        return "'..' in archive path"
    return None


class _UnpackedTooLarge(Exception):
    """The archive's decompressed stream passed its limit."""


class _Bounded:
    """The decompressed stream, read no further than `limit` bytes. The archive's own size says nothing of what
    it unpacks to (a 255 KiB upload of zeros took 280 MB of the runtime's memory), and counting members is not
    enough: tarfile reads a long-name or PAX header's whole declared data before it returns a member."""

    def __init__(self, raw: gzip.GzipFile, limit: int) -> None:
        self._raw = raw
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size if size >= 0 else self._left + 1)
        self._left -= len(data)
        if self._left < 0:
            raise _UnpackedTooLarge
        return data


def _read_members(tar: tarfile.TarFile) -> tuple[dict[str, bytes], list[Problem]]:
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    for member in tar:
        if reason := _unsafe_name(member.name):
            problems.append(Problem(_entry(member.name), reason))
            continue
        if member.issym() or member.islnk():
            problems.append(Problem(_entry(member.name), f"link in archive (to {member.linkname!r})"))
            continue
        if member.isdir():
            continue
        if not member.isfile():
            problems.append(Problem(_entry(member.name), "special file in archive"))
            continue
        name = PurePosixPath(member.name).as_posix()
        if name in files:
            problems.append(Problem(_entry(name), "file appears twice in archive"))
        if is_excluded(name):
            problems.append(Problem(_entry(name), "tests, caches and compiled files do not belong in a package"))
        extracted = tar.extractfile(member)
        files[name] = extracted.read() if extracted is not None else b""
    return files, problems


def _checksum_problems(files: dict[str, bytes]) -> list[Problem]:
    index = files.get(CHECKSUMS)
    if index is None:
        return []
    problems: list[Problem] = []
    listed: set[str] = set()
    for number, line in enumerate(index.decode("utf-8", "replace").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            problems.append(Problem(_entry(CHECKSUMS), f"line {number} is not '<sha256>  <path>'"))
            continue
        listed.add(name)
        if name not in files:
            problems.append(Problem(_entry(name), "listed in checksums.sha256 but missing from the archive"))
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            problems.append(Problem(_entry(name), "checksum mismatch: the file was changed after the build"))
    for name in sorted(set(files) - listed - {CHECKSUMS}):
        problems.append(Problem(_entry(name), "not listed in checksums.sha256"))
    return problems


def _manifest_problems(files: dict[str, bytes]) -> list[Problem]:
    raw = files.get("extension.json")
    if raw is None:
        return []
    document, problems = parse_json(raw)
    if not problems:
        with tempfile.TemporaryDirectory() as folder:
            icon = document.get("icon") if isinstance(document, dict) else None
            if isinstance(icon, str) and icon in files and _unsafe_name(icon) is None:
                target = Path(folder) / icon
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(files[icon])
            problems = check_manifest(document, Path(folder))
    # Inside the manifest, the JSON Pointer follows the entry's path as a URI fragment does.
    prefix = _entry("extension.json") + "#"
    return [Problem(prefix + p.pointer, p.message, p.line, p.column) for p in problems]


def check_package(
    path: Path, *, max_bytes: int = MAX_PACKAGE_BYTES, max_unpacked: int = MAX_UNPACKED_BYTES
) -> list[Problem]:
    """Every problem of a built package file; reading stops once its contents pass `max_unpacked` bytes."""
    size = path.stat().st_size
    if size > max_bytes:
        return [Problem("", f"package is {size} bytes; the limit is {max_bytes}")]
    try:
        # A stream ("r|"): members in order, each read as it comes, nothing sought back.
        # tarfile's stream mode calls only read(); the cast stands for the file protocol typeshed asks for.
        bounded = cast("IO[bytes]", _Bounded(raw := gzip.GzipFile(path, "rb"), max_unpacked))
        with raw, tarfile.open(fileobj=bounded, mode="r|") as tar:
            files, problems = _read_members(tar)
    except _UnpackedTooLarge:
        return [Problem("", f"the archive unpacks to more than {max_unpacked} bytes")]
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return [Problem("", f"not a gzip-compressed tar archive: {exc}")]
    for name in REQUIRED_FILES:
        if name not in files:
            problems.append(Problem(_entry(name), "required file missing from the package"))
    problems.extend(_checksum_problems(files))
    problems.extend(_manifest_problems(files))
    return problems
