"""build.py and the package check: reproducible archives, and every kind of tampering refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from handover_miaw import cli
from handover_miaw.packaging import MAX_PACKAGE_BYTES, BuildError, build_package
from handover_miaw.validate.archive import MAX_UPLOAD_UNPACKED_BYTES, check_archive
from handover_miaw.validate.package import check_package


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from handover_miaw.resources import project_root

    return build_package(project_root(), tmp_path_factory.mktemp("dist")).path


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _repack(path: Path, out: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    out.write_bytes(gzip.compress(buffer.getvalue()))
    return out


def test_build_twice_gives_identical_bytes(tmp_path: Path, root: Path) -> None:
    first = subprocess.run(
        [sys.executable, str(root / "build.py"), "--out", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        check=True,
    )
    second = subprocess.run(
        [sys.executable, str(root / "build.py"), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        check=True,
    )
    a, b = (tmp_path / "a" / "handover-miaw-0.1.0.tar.gz"), (tmp_path / "b" / "handover-miaw-0.1.0.tar.gz")
    assert a.read_bytes() == b.read_bytes()
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    assert digest in first.stdout
    assert digest in second.stdout
    assert str(a.stat().st_size) in first.stdout


def test_built_package_layout(built: Path) -> None:
    files = _members(built)
    for name in ("extension.json", "icon.png", "README.md", "LICENSE", "pyproject.toml", "checksums.sha256"):
        assert name in files
    assert "schemas/extension.schema.json" in files
    assert "handover_miaw/cli.py" in files
    assert not [n for n in files if n.startswith("tests/") or "__pycache__" in n or n.endswith(".pyc")]
    with tarfile.open(built, "r:gz") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.mtime, i.uid, i.gid, i.mode) for i in infos} == {(315532800, 0, 0, 0o644)}


def test_built_package_validates(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_package(built) == []
    assert cli.main(["validate", str(built)]) == 0
    assert "(package)" in capsys.readouterr().out


def test_build_refuses_an_invalid_manifest(tmp_path: Path, root: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(root, source, ignore=shutil.ignore_patterns(".venv", ".git", "dist", "*cache*", "tests"))
    text = (source / "extension.json").read_text().replace('"key": "organizationId"', '"key": "baseUrl"')
    (source / "extension.json").write_text(text)
    result = subprocess.run(
        [sys.executable, str(source / "build.py"), "--out", str(tmp_path / "out")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "/connector/fields/1/key" in result.stderr
    assert not (tmp_path / "out").exists()


def test_build_refuses_a_package_over_the_limit(tmp_path: Path, root: Path) -> None:
    with pytest.raises(BuildError, match="limit"):
        build_package(root, tmp_path, max_bytes=1024)
    assert not list(tmp_path.iterdir())


def test_tampered_file_is_rejected(built: Path, tmp_path: Path) -> None:
    files = _members(built)
    files["handover_miaw/cli.py"] += b"\nimport os\n"
    problems = check_package(_repack(built, tmp_path / "t.tar.gz", files))
    assert [(p.pointer, "checksum mismatch" in p.message) for p in problems] == [("handover_miaw/cli.py", True)]


def test_missing_file_is_rejected(built: Path, tmp_path: Path) -> None:
    files = _members(built)
    del files["LICENSE"]
    messages = {p.pointer: p.message for p in check_package(_repack(built, tmp_path / "m.tar.gz", files))}
    assert set(messages) == {"LICENSE"}
    assert "missing" in messages["LICENSE"]


def test_unlisted_file_is_rejected(built: Path, tmp_path: Path) -> None:
    files = _members(built)
    files["handover_miaw/extra.py"] = b"print(1)\n"
    problems = check_package(_repack(built, tmp_path / "u.tar.gz", files))
    assert [p.message for p in problems] == ["not listed in checksums.sha256"]


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "handover_miaw/../../evil.py"])
def test_path_traversal_entries_are_rejected(built: Path, tmp_path: Path, name: str) -> None:
    files = _members(built)
    files[name] = b"x"
    problems = check_package(_repack(built, tmp_path / "p.tar.gz", files))
    assert any(("absolute" in p.message or "'..'" in p.message) for p in problems)


def test_symlink_is_rejected(built: Path, tmp_path: Path) -> None:
    link = tarfile.TarInfo("handover_miaw/link.py")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    problems = check_package(_repack(built, tmp_path / "s.tar.gz", _members(built), [link]))
    assert any("link in archive" in p.message for p in problems)


def test_tests_and_caches_are_rejected(built: Path, tmp_path: Path) -> None:
    files = _members(built)
    files["tests/test_x.py"] = b""
    problems = check_package(_repack(built, tmp_path / "c.tar.gz", files))
    assert any("do not belong" in p.message for p in problems)


def test_invalid_manifest_inside_is_reported_with_its_pointer(built: Path, tmp_path: Path) -> None:
    files = _members(built)
    files["extension.json"] = files["extension.json"].replace(b'"0.1.0"', b"7")
    problems = check_package(_repack(built, tmp_path / "v.tar.gz", files))
    pointers = {p.pointer for p in problems}
    assert "extension.json#/version" in pointers


def test_oversized_package_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.tar.gz"
    with path.open("wb") as handle:  # sparse: the size is real, the disk blocks are not
        handle.truncate(MAX_PACKAGE_BYTES + 1)
    assert cli.main(["validate", str(path)]) == 2
    assert "limit" in capsys.readouterr().out


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(os.urandom(64))
    assert "not a gzip-compressed tar" in check_package(path)[0].message


def _bomb(path: Path, unpacked: int) -> Path:
    """A .tar.gz of one file of zeros: a few KiB that unpack to `unpacked` bytes."""
    member = tarfile.TarInfo("extension.json")
    member.size = unpacked
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.addfile(member, io.BytesIO(bytes(unpacked)))
    return path


def test_reading_stops_where_the_archive_unpacks_past_its_limit(tmp_path: Path) -> None:
    # A 255 KiB upload of zeros unpacked whole into the runtime's memory (280 MB); the limit is on what is read.
    bomb = _bomb(tmp_path / "bomb.tar.gz", 3 * 1024 * 1024)
    assert bomb.stat().st_size < 64 * 1024
    assert [(p.pointer, p.message) for p in check_package(bomb, max_unpacked=2 * 1024 * 1024)] == [
        ("", f"the archive unpacks to more than {2 * 1024 * 1024} bytes")
    ]
    assert not any(p.pointer == "" for p in check_package(bomb, max_unpacked=4 * 1024 * 1024))


def test_an_uploaded_archive_is_read_no_further_than_the_upload_limit(tmp_path: Path) -> None:
    bomb = _bomb(tmp_path / "bomb.tar.gz", MAX_UPLOAD_UNPACKED_BYTES + 1)
    result = check_archive(bomb.read_bytes())
    assert result["valid"] is False
    assert result["problems"] == [
        {"pointer": "", "message": f"the archive unpacks to more than {MAX_UPLOAD_UNPACKED_BYTES} bytes"}
    ]
    assert "manifest" not in result


def test_a_long_name_header_counts_against_the_limit_before_it_is_read(tmp_path: Path) -> None:
    # tarfile reads a GNU long-name (or PAX) header's whole declared data before it returns the member:
    # counting only members let a 183 KB archive take 47 MB past a 1 MiB limit.
    path = tmp_path / "longname.tar.gz"
    member = tarfile.TarInfo("a" * (16 * 1024 * 1024))
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT, compresslevel=1) as tar:
        tar.addfile(member, io.BytesIO(b""))
    tracemalloc.start()
    try:
        problems = check_package(path, max_unpacked=1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(p.pointer, p.message) for p in problems] == [("", f"the archive unpacks to more than {1024 * 1024} bytes")]
    assert peak < 4 * 1024 * 1024, peak
