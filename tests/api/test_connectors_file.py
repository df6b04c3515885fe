"""`handover-miaw serve` refuses to start on a malformed connectors file: exit 2, every problem named as
`file: /json/pointer: reason`, and nothing served (the process never listens)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.processes import free_port

GOOD_CONFIG = {
    "baseUrl": "https://acme.my.salesforce-scrt.com",
    "organizationId": "00D000000000001",
    "esDeveloperName": "Bot_Handover_Custom",
}


def _serve(connectors: Path, *extra: str) -> tuple[int, str, int]:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "handover_miaw", "serve", "--port", str(port), "--connectors", str(connectors), *extra],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=connectors.parent,
    )
    return done.returncode, done.stderr, port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_every_problem_is_reported_and_the_runtime_does_not_start(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    connectors = {
        "acme": {
            "config": {**GOOD_CONFIG, "organizationId": "00Dbad"},
            "delivery": {"format": "webhook", "url": "https://hooks.example.com/x"},
        },
        "Bad Name": {"config": GOOD_CONFIG, "delivery": {"format": "sse"}},
        "elsewhere": {"config": {**GOOD_CONFIG, "baseUrl": "https://evil.example.com"}, "delivery": {"format": "sse"}},
    }
    path.write_bytes(orjson.dumps({"connectors": connectors}))
    code, stderr, port = _serve(path, "--insecure-dev")
    assert code == 2
    lines = stderr.splitlines()
    for pointer in (
        "/connectors/acme/config/organizationId",
        "/connectors/acme/delivery/secret",
        "/connectors/Bad Name",
        "/connectors/elsewhere/config/baseUrl",
    ):
        assert any(line.startswith(f"{path}: {pointer}: ") for line in lines), (pointer, stderr)
    assert "refusing to start" in stderr
    assert not _listening(port)
    assert not (tmp_path / "data").exists(), "nothing may be created by a refused start"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"connectors": {"acme": ', "connectors.json:1:"),
        (b'["not", "an", "object"]', "expected"),
        (b'{"connectors": {"acme": {"config": {}, "delivery": {"format": "sse"}}, "acme": {}}}', "duplicate"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "connectors.json"
    path.write_bytes(content)
    code, stderr, _ = _serve(path, "--insecure-dev")
    assert code == 2
    assert str(path) in stderr
    assert reason in stderr.lower()


def test_loopback_simulator_url_needs_development_mode(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    config = {**GOOD_CONFIG, "baseUrl": "http://127.0.0.1:8089"}
    path.write_bytes(orjson.dumps({"connectors": {"acme": {"config": config, "delivery": {"format": "sse"}}}}))
    code, stderr, _ = _serve(path, "--api-keys", "hm_key_0123456789abcdef0123456789abcd")
    assert code == 2
    assert f"{path}: /connectors/acme/config/baseUrl: " in stderr


def test_no_secret_reaches_stderr(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    short_secret, long_key = "shortsecret1", "cognigy-key-" + "k" * 300
    connectors = {
        "acme": {
            "config": GOOD_CONFIG,
            "delivery": {"format": "webhook", "url": "https://h.example.com", "secret": short_secret},
        },
        "bot": {
            "config": GOOD_CONFIG,
            "delivery": {"format": "cognigy", "url": "https://c.example.com", "urlToken": "t", "apiKey": long_key},
        },
    }
    path.write_bytes(orjson.dumps({"connectors": connectors}))
    code, stderr, _ = _serve(path, "--insecure-dev")
    assert code == 2
    assert short_secret not in stderr
    assert long_key[:20] not in stderr
    assert f"{path}: /connectors/acme/delivery/secret: the value is shorter than 16 characters" in stderr.splitlines()
    assert f"{path}: /connectors/bot/delivery/apiKey: the value is longer than 256 characters" in stderr.splitlines()


def test_a_bad_name_does_not_hide_the_entrys_other_problems(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    entry = {"config": {**GOOD_CONFIG, "organizationId": "00Dbad"}, "delivery": {"format": "sse"}}
    path.write_bytes(orjson.dumps({"connectors": {"Acme": entry}}))
    code, stderr, _ = _serve(path, "--insecure-dev")
    assert code == 2
    lines = stderr.splitlines()
    assert any(line.startswith(f"{path}: /connectors/Acme: connector names are 1 to 63") for line in lines), stderr
    assert any(line.startswith(f"{path}: /connectors/Acme/config/organizationId: ") for line in lines), stderr
