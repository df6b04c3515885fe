"""`handover-miaw validate`: kinds detected, every problem on its own line, exit codes 0 / 2 / 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handover_miaw import cli


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["validate", *args])
    return code, capsys.readouterr().out


def _write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_valid_manifest_prints_one_summary_line(capsys: pytest.CaptureFixture[str], root: Path) -> None:
    code, out = _run(capsys, str(root / "extension.json"))
    assert code == 0
    assert out.strip().splitlines() == [f"ok: 1 file(s) valid: {root / 'extension.json'} (manifest)"]


def test_kinds_are_detected(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, connector_config: dict[str, Any]
) -> None:
    connector = _write(tmp_path, "acme.json", connector_config)
    node = _write(tmp_path, "node.json", {"sendTranscript": True, "routingAttributes": {"language": "en_US"}})
    code, out = _run(capsys, str(connector), str(node))
    assert code == 0
    assert "(connector)" in out
    assert "(node)" in out


def test_invalid_connector_lists_file_pointer_reason(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "bad.json",
        {"baseUrl": "http://acme.example.com", "organizationId": "12345", "esDeveloperName": "Bot"},
    )
    code, out = _run(capsys, str(path))
    assert code == 2
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{path}: /baseUrl: ")
    assert lines[1].startswith(f"{path}: /organizationId: ")
    assert lines[-1] == "invalid: 1 of 1 file(s), 2 problem(s)"


def test_syntax_error_gives_line_and_column(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "baseUrl": "https://x.example.com",,\n}')
    code, out = _run(capsys, str(path))
    assert code == 2
    assert out.splitlines()[0].startswith(f"{path}:2:38: invalid JSON")


def test_json_format_is_machine_readable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(tmp_path, "node.json", {"useIdentityToken": True, "routingAttributes": {"bad key": "x"}})
    code, out = _run(capsys, "--format", "json", "--kind", "node", str(path))
    assert code == 2
    report = json.loads(out)
    assert report["valid"] is False
    (entry,) = report["files"]
    assert entry["kind"] == "node"
    assert [p["pointer"] for p in entry["problems"]] == ["/identityToken", "/routingAttributes/bad key"]


def test_undetectable_file_asks_for_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(tmp_path, "what.json", {"hello": "world"})
    code, out = _run(capsys, str(path))
    assert code == 2
    assert "--kind" in out


def test_kind_override_validates_against_that_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(tmp_path, "what.json", {"hello": "world"})
    code, out = _run(capsys, "--kind", "connector", str(path))
    assert code == 2
    assert f"{path}: /hello: unknown property 'hello'" in out


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = _run(capsys, str(tmp_path / "nope.json"))
    assert code == 2
    assert "no such file" in out


def test_internal_failure_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "validate_path", explode)
    assert cli.main(["validate", str(tmp_path / "x.json")]) == 1
    assert "internal error" in capsys.readouterr().err
