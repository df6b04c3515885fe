"""What a newcomer reads from `handover-miaw validate`: a directory is called one, help lists every
exit code and every option with its default."""

from __future__ import annotations

from pathlib import Path

import pytest

from handover_miaw import cli


def test_a_directory_is_called_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = cli.main(["validate", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 2
    assert out[0] == f"{tmp_path}: /: is a directory; name the files to validate"


def test_a_missing_file_is_called_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["validate", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'nope.json'}: /: no such file")


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([*command, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_validate_help_lists_every_exit_code_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "validate")
    assert "0 valid, 2 invalid, 1 internal failure" in text
    assert "PATH files to check" in text
    assert "--format {text,json} text: one line per problem; json: one report (default: text)" in text
    assert "--kind {manifest,connector,node,connectors,package}" in text
    assert "--dev connectors files: allow loopback MIAW URLs" in text


def test_simulator_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "simulator")
    assert "--host HOST address to listen on (default: 127.0.0.1)" in text
    assert "--port PORT port to listen on, 0 for any free one (default: 8089)" in text


def test_demo_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert "Play one whole handover" in _help(capsys, "demo")
