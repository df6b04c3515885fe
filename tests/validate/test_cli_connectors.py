"""`handover-miaw validate` checks the connectors file `serve --connectors` reads, by the same rules:
the host policy (loopback only with --dev, as `serve --insecure-dev`), names, secrets never printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handover_miaw import cli

CONFIG = {
    "baseUrl": "https://acme.my.salesforce-scrt.com",
    "organizationId": "00D000000000001",
    "esDeveloperName": "Bot_Handover_Custom",
}


@pytest.fixture(autouse=True)
def _default_host_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDOVER_MIAW_ALLOWED_HOSTS", raising=False)
    monkeypatch.delenv("HANDOVER_MIAW_INSECURE_DEV", raising=False)


def _file(tmp_path: Path, **connectors: Any) -> Path:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps({"connectors": connectors}))
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = cli.main(["validate", *args])
    return code, capsys.readouterr().out.splitlines()


def test_a_valid_connectors_file_is_detected(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _file(tmp_path, acme={"config": CONFIG, "delivery": {"format": "sse"}})
    assert _run(capsys, str(path)) == (0, [f"ok: 1 file(s) valid: {path} (connectors)"])


@pytest.mark.parametrize("base_url", ["https://evil.example.com", "http://127.0.0.1:8089"])
def test_hosts_serve_refuses_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, base_url: str) -> None:
    path = _file(tmp_path, acme={"config": {**CONFIG, "baseUrl": base_url}, "delivery": {"format": "sse"}})
    code, lines = _run(capsys, "--kind", "connectors", str(path))
    assert code == 2
    assert lines[0].startswith(f"{path}: /connectors/acme/config/baseUrl: host ")
    assert "is not allowed for MIAW calls" in lines[0]


def test_dev_allows_loopback_as_insecure_dev_does(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _file(
        tmp_path, sim={"config": {**CONFIG, "baseUrl": "http://127.0.0.1:8089"}, "delivery": {"format": "sse"}}
    )
    assert _run(capsys, "--dev", str(path))[0] == 0
    evil = _file(
        tmp_path, acme={"config": {**CONFIG, "baseUrl": "https://evil.example.com"}, "delivery": {"format": "sse"}}
    )
    assert _run(capsys, "--dev", str(evil))[0] == 2


def test_every_problem_is_listed_and_no_secret_printed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    secret = "shortsecret1"
    path = _file(
        tmp_path,
        Acme={"config": {**CONFIG, "organizationId": "00Dbad"}, "delivery": {"format": "sse"}},
        acme={"config": CONFIG, "delivery": {"format": "webhook", "url": "https://h.example.com", "secret": secret}},
    )
    code, lines = _run(capsys, str(path))
    assert code == 2
    assert secret not in "\n".join(lines)
    assert [line.split(": ")[1] for line in lines[:-1]] == [
        "/connectors/Acme",
        "/connectors/Acme/config/organizationId",
        "/connectors/acme/delivery/secret",
    ]
    assert lines[2] == f"{path}: /connectors/acme/delivery/secret: the value is shorter than 16 characters"


@pytest.mark.parametrize("kind", ["connectors", "manifest"])
def test_a_file_nested_past_the_validators_limit_is_exit_2_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    # jsonschema-rs raises ValueError about 255 levels down, where json parses 1,000: that was exit 1.
    deep = "[" * 400 + "]" * 400
    path = tmp_path / "deep.json"
    if kind == "connectors":
        body = json.dumps({"connectors": {"acme": {"config": {**CONFIG, "x": "DEEP"}, "delivery": {"format": "sse"}}}})
    else:
        body = json.dumps({"name": "DEEP"})
    path.write_text(body.replace('"DEEP"', deep))
    code, lines = _run(capsys, "--kind", kind, str(path))
    assert code == 2, lines
    assert lines[0].startswith(f"{path}: /"), lines
    assert "the document is nested too deeply to be checked" in lines[0], lines
