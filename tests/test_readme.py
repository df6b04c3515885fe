"""The README as a newcomer meets it: after Quick start, every command works as written.

The curl walk-through is run as written (on free ports, from a folder of its own so that anything it
left behind would show), and no shell line of the README calls a tool outside the virtualenv.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handover_miaw import cli
from tests.processes import free_port

_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)
_decode = json.JSONDecoder()


def _shell_blocks(root: Path) -> list[str]:
    return _BLOCK.findall((root / "README.md").read_text())


def test_no_command_needs_an_activated_virtualenv(root: Path) -> None:
    bare = [
        line
        for block in _shell_blocks(root)
        for line in block.splitlines()
        if re.match(r"\s*(handover-miaw|python|pytest|ruff|mypy)\b", line)
    ]
    assert bare == []


def test_the_connectors_file_example_passes_validate(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOVER_MIAW_ALLOWED_HOSTS", raising=False)
    (example,) = [b for b in _JSON_BLOCK.findall((root / "README.md").read_text()) if '"connectors"' in b]
    path = tmp_path / "connectors.json"
    path.write_text(example)
    assert cli.main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"ok: 1 file(s) valid: {path} (connectors)"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through is written with curl")
def test_the_curl_walkthrough_runs_as_written(root: Path, tmp_path: Path) -> None:
    (walk,) = [b for b in _shell_blocks(root) if "HID=$(" in b]
    runtime, simulator = free_port(), free_port()
    # The trap stops what the block started, should it fail before its own `kill` line.
    script = "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + (
        walk.replace(":8080", f":{runtime}")
        .replace("--port 8080", f"--port {runtime}")
        .replace(":8089", f":{simulator}")
        .replace("--port 8089", f"--port {simulator}")
        .replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run([bash, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout
    # curl prints bodies without a final newline: find the handover records wherever they start.
    records = [_decode.raw_decode(out, at.start())[0] for at in re.finditer(r'\{"id":"ho_', out)]
    start, final = records[0], records[-1]
    assert start["state"] == "queued", out
    assert final["id"] == start["id"]
    assert final["state"] in {"active", "ended"}, out
    assert "Hi Ann, I can help." in out, out  # the agent's message reached the bot through /events
    assert list(cwd.iterdir()) == [], "the walk-through left files in the folder it ran from"
