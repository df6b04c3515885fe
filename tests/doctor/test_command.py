"""`handover-miaw doctor` on the command line (text, JSON, exit codes) and `POST /v1/connectors/{name}/check`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from handover_miaw.api import create_app
from handover_miaw.cli import main
from handover_miaw.settings import Settings
from tests.processes import free_port

from .conftest import SECRET
from .test_checks import identity_token

API_KEY = "hm_doctor_key_0123456789abcdef0123456789"


async def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    # A thread of its own: the CLI runs its own event loop while this one serves the simulator and receiver.
    code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def connectors_file(tmp_path: Path, connector: dict[str, Any]) -> Path:
    path = tmp_path / "connectors.json"
    path.write_bytes(orjson.dumps({"connectors": {"acme": connector}}))
    return path


@pytest.fixture
def node_file(tmp_path: Path) -> Path:
    path = tmp_path / "node.json"
    path.write_bytes(orjson.dumps({"routingAttributes": {"Bot_Summary": "x"}}))
    return path


async def test_the_table_for_a_correct_setup_exits_0(
    connectors_file: Path, node_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = identity_token()
    (tmp_path / "id.jwt").write_text(sample + "\n")
    argv = ["doctor", "acme", "--connectors", str(connectors_file), "--node-settings", str(node_file), "--insecure-dev"]
    argv += ["--identity-token-file", str(tmp_path / "id.jwt")]
    code, out, _ = await run_cli(argv, capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("handover-miaw doctor: connector acme (http://127.0.0.1:")
    assert [entry[:4] for entry in lines if entry[:1] in "✔!✘-"] == [
        "✔ 1 ",
        "! 2 ",
        "✔ 3 ",
        "✔ 4 ",
        "✔ 5 ",
        "✔ 6 ",
        "✔ 7 ",
    ]
    assert lines[-1] == "doctor: 6 passed, 1 warning(s), 0 failed (exit 0)"
    assert SECRET not in out
    assert sample not in out


async def test_json_output_and_exit_2_when_a_line_fails(
    connectors_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "bad-node.json"
    node.write_bytes(orjson.dumps({"routingAttributes": {"Brand__c": "x"}}))
    argv = [
        "doctor",
        "--connectors",
        str(connectors_file),
        "--node-settings",
        str(node),
        "--insecure-dev",
        "--format",
        "json",
    ]
    code, out, _ = await run_cli(argv, capsys)
    assert code == 2
    document = orjson.loads(out)
    assert document["connector"] == "acme"  # the only connector of the file
    assert document["outcome"] == "fail"
    assert document["exitCode"] == 2
    routing = document["checks"][4]
    assert routing["key"] == "routing"
    assert routing["status"] == "fail"
    assert routing["details"] == ["bad-node.json: Brand__c: not a pre-chat field of the deployment, so MIAW drops it"]


async def test_an_invalid_connectors_file_is_line_1_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "connectors.json"
    path.write_text('{"connectors": {"acme": {"config": }}}')
    code, out, _ = await run_cli(["doctor", "acme", "--connectors", str(path)], capsys)
    assert code == 2
    assert f"{path}:1:" in out
    assert out.splitlines()[1].startswith("✘ 1 Configuration")


async def test_a_connector_the_file_does_not_have_is_line_1(
    connectors_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run_cli(["doctor", "acne", "--connectors", str(connectors_file)], capsys)
    assert code == 2
    assert f"{connectors_file}: no connector named 'acne' (the file has: acme)" in out


async def test_a_connector_from_flags(sim_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "doctor",
        "--base-url",
        sim_url,
        "--org-id",
        "00D000000000001",
        "--es-developer-name",
        "Bot_Handover_Custom",
    ]
    code, out, _ = await run_cli([*argv, "--insecure-dev"], capsys)
    assert code == 0, out
    assert "- 7 Delivery target" in out


async def test_no_connector_at_all_is_exit_2_naming_the_ways_to_give_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDOVER_MIAW_CONNECTORS", raising=False)
    code, out, err = await run_cli(["doctor", "acme"], capsys)
    assert code == 2
    assert out == ""
    assert "--connectors FILE" in err
    assert "--runtime URL" in err


async def test_a_runtime_that_does_not_answer_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await run_cli(["doctor", "acme", "--runtime", f"http://127.0.0.1:{free_port()}"], capsys)
    assert code == 1
    assert "did not answer" in err


@pytest.fixture
async def runtime(aiohttp_client: Any, tmp_path: Path, connector: dict[str, Any]) -> TestClient[Any, Any]:
    settings = Settings(data_dir=tmp_path / "data", insecure_dev=True, api_keys=(API_KEY,))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = await client.put("/v1/connectors/acme", json=connector, headers=headers)
    assert response.status == 201, await response.text()
    return client


async def test_the_api_runs_the_same_checks_with_the_stored_secrets(runtime: TestClient[Any, Any]) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    sample = identity_token()
    node = {"routingAttributes": {"Bot_Summary": "x"}, "useIdentityToken": True, "identityToken": "{{context.idToken}}"}
    body = {"nodeSettings": [node], "identityToken": sample}
    response = await runtime.post("/v1/connectors/acme/check", json=body, headers=headers)
    assert response.status == 200
    raw = await response.text()
    report = orjson.loads(raw)
    assert report["connector"] == "acme"
    assert report["exitCode"] == 0
    assert [c["status"] for c in report["checks"]] == ["pass", "warn", "pass", "pass", "pass", "pass", "pass"]
    assert sample not in raw
    assert SECRET not in raw

    empty = await runtime.post("/v1/connectors/acme/check", headers=headers)
    assert empty.status == 200
    assert (await empty.json())["checks"][4]["status"] == "skip"
    missing = await runtime.post("/v1/connectors/nope/check", headers=headers)
    assert missing.status == 404
    invalid = await runtime.post("/v1/connectors/acme/check", json={"nodeSettings": "x"}, headers=headers)
    assert invalid.status == 422
    assert (await invalid.json())["error"]["problems"][0]["pointer"] == "/nodeSettings"


async def test_the_cli_asks_a_runtime(
    runtime: TestClient[Any, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOVER_MIAW_API_KEY", API_KEY)
    url = str(runtime.make_url("")).rstrip("/")
    code, out, _ = await run_cli(["doctor", "acme", "--runtime", url], capsys)
    assert code == 0, out
    assert out.splitlines()[0].startswith("handover-miaw doctor: connector acme")
    assert "✔ 7 Delivery target" in out
    code, _, err = await run_cli(["doctor", "nope", "--runtime", url], capsys)
    assert code == 2
    assert "HTTP 404" in err
