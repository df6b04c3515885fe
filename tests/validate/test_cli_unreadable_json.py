"""What the standard library's JSON parser takes but the runtime cannot store (NaN, Infinity, a number too
large to read, a lone surrogate) is refused by `validate` and by `serve --connectors` alike: exit 2, the
file, the value's JSON Pointer and the reason. Before, `validate` said ok to a lone surrogate and `serve`
then failed with `internal error: TypeError` (exit 1), and NaN or 1e400 read as `null is not of type`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from handover_miaw import cli
from handover_miaw.jsonload import parse_json
from tests.processes import free_port

CONFIG = '"baseUrl": "https://acme.my.salesforce-scrt.com", "organizationId": "00D5e000000AbCd", "esDeveloperName": "B"'
SECRET = "SURROGATESECRET-abcdef"
SURROGATE = "holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is not a character"


def _file(config: str = "", delivery: str = '"format": "sse"') -> str:
    """A connectors file's text, by hand: json.dumps writes NaN and escapes differently than the cases need."""
    return f'{{"connectors": {{"acme": {{"config": {{{CONFIG}{config}}}, "delivery": {{{delivery}}}}}}}}}'


FORWARD = "/connectors/acme/config/forwardEvents"
WEBHOOK = '"format": "webhook", "url": "https://bot.example.com/h", "secret": '
# (the file's text, the pointer, the reason); JSON escapes are written as the file holds them.
CASES = [
    (_file(', "forwardEvents": NaN'), FORWARD, "invalid JSON: NaN is not a JSON number"),
    (_file(', "forwardEvents": -Infinity'), FORWARD, "invalid JSON: -Infinity is not a JSON number"),
    (_file(', "forwardEvents": 1e400'), FORWARD, "invalid JSON: the number is too large (it overflows to infinity)"),
    (_file(', "forwardEvents": 1' + "0" * 5000), FORWARD, "invalid JSON: the number has too many digits"),
    (
        _file(delivery=WEBHOOK + f'"{SECRET}\\ud800"'),
        "/connectors/acme/delivery/secret",
        f"invalid JSON: the string {SURROGATE}",
    ),
    (_file(', "x\\udc00": 1'), "/connectors/acme/config", f"invalid JSON: a key {SURROGATE}"),
]
IDS = ["nan", "infinity", "overflow", "too-many-digits", "surrogate", "surrogate-key"]


@pytest.mark.parametrize(("text", "where", "reason"), CASES, ids=IDS)
def test_validate_refuses_it_at_its_pointer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, where: str, reason: str
) -> None:
    path = tmp_path / "connectors.json"
    path.write_text(text)
    code = cli.main(["validate", "--kind", "connectors", str(path)])
    out = capsys.readouterr().out
    assert code == 2, out
    assert out.splitlines()[0] == f"{path}: {where}: {reason}"
    assert SECRET not in out


@pytest.mark.parametrize(("text", "where", "reason"), CASES, ids=IDS)
def test_serve_refuses_the_same_connectors_file(tmp_path: Path, text: str, where: str, reason: str) -> None:
    path = tmp_path / "connectors.json"
    path.write_text(text)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "handover_miaw",
            "serve",
            "--insecure-dev",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
            "--connectors",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"{path}: {where}: {reason}\n" in result.stderr
    assert "refusing to start with an invalid connectors file" in result.stderr
    assert SECRET not in result.stderr


def test_what_the_runtime_can_store_still_parses() -> None:
    # Numbers at the edges of a float, a long int and a surrogate pair (one character) are all fine.
    text = '{"a": [1.7e308, -1.7e308, 1e-400, ' + "9" * 4300 + '], "b": "\\ud83d\\ude00"}'
    assert parse_json(text) == ({"a": [1.7e308, -1.7e308, 0.0, int("9" * 4300)], "b": "\U0001f600"}, [])
