"""The endpoints behind the UI: one validation engine with the CLI, the preview, the package check, serving."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from handover_miaw.api import create_app
from handover_miaw.packaging import build_package
from handover_miaw.settings import Settings
from handover_miaw.validate import validate_path

KEY = "ui-test-key-0123456789abcdef0123456789"


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(Settings(data_dir=tmp_path / "data", insecure_dev=True)))


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("node", {"routingAttributes": {"bad key": 1}, "useIdentityToken": True, "nope": 1}),
        ("node", {"sendTranscript": True}),
        ("connector", {"baseUrl": "ftp://x", "organizationId": "00X", "capabilitiesVersion": 1}),
    ],
)
async def test_validation_endpoint_reports_exactly_what_the_cli_reports(
    client: Any, tmp_path: Path, kind: str, document: dict[str, Any]
) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document))
    response = await client.post("/v1/validate", json={"kind": kind, "document": document})
    assert response.status == 200
    body = await response.json()
    cli = validate_path(path, kind)  # type: ignore[arg-type]
    assert body == {"valid": cli.valid, "problems": [p.as_dict() for p in cli.problems]}


async def test_preview_refuses_invalid_settings_with_the_field_named(client: Any) -> None:
    response = await client.post("/v1/preview", json={"settings": {"sendTranscript": "yes"}})
    assert response.status == 422
    error = (await response.json())["error"]
    assert [p["pointer"] for p in error["problems"]] == ["/settings/sendTranscript"]


async def test_the_ui_is_served_with_a_same_origin_policy_and_can_be_switched_off(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    on = await aiohttp_client(create_app(Settings(data_dir=tmp_path / "a", api_keys=(KEY,))))
    page = await on.get("/ui/")
    assert page.status == 200
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert (await on.get("/ui/static/js/form.js")).status == 200
    assert (await on.get("/", allow_redirects=False)).headers["Location"] == "/ui/"
    assert (await on.get("/ui/config.json")).status == 200
    # The page is public; the data is not.
    assert (await on.post("/v1/validate", json={"kind": "node", "document": {}})).status == 401
    off = await aiohttp_client(create_app(Settings(data_dir=tmp_path / "b", api_keys=(KEY,), no_ui=True)))
    assert (await off.get("/ui/", headers={"Authorization": f"Bearer {KEY}"})).status == 404
    assert Settings.from_sources(env={"HANDOVER_MIAW_NO_UI": "1"}).no_ui


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from handover_miaw.resources import project_root

    return build_package(project_root(), tmp_path_factory.mktemp("dist")).path.read_bytes()


def _tampered(archive: bytes) -> bytes:
    """The same archive with extension.json's label changed after the build (checksums no longer match)."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source,
        tarfile.open(fileobj=out, mode="w:gz") as tar,
    ):
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name == "extension.json":
                data = data.replace(b'"Salesforce MIAW Handover"', b'"Tampered Handover"')
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return out.getvalue()


async def test_package_check_matches_the_cli_and_gives_the_forms(client: Any, built: bytes, tmp_path: Path) -> None:
    ok = await client.post("/v1/packages/check", data=built, headers={"Content-Type": "application/gzip"})
    body = await ok.json()
    assert body["valid"] is True
    assert body["problems"] == []
    assert body["manifest"]["name"] == "handover-miaw"
    assert "identityToken" in body["schemas"]["nodeSettings"]["properties"]

    tampered = _tampered(built)
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(tampered)
    cli = validate_path(path)
    bad = await (
        await client.post("/v1/packages/check", data=tampered, headers={"Content-Type": "application/gzip"})
    ).json()
    assert bad["valid"] is False
    assert bad["problems"] == [p.as_dict() for p in cli.problems]
    assert any("checksum mismatch" in p["message"] for p in bad["problems"])

    garbage = await (
        await client.post("/v1/packages/check", data=b"not a tar", headers={"Content-Type": "application/gzip"})
    ).json()
    assert garbage["valid"] is False
    assert garbage["problems"][0]["pointer"] == ""
    assert "manifest" not in garbage

    wrong = await client.post("/v1/packages/check", data=b"{}", headers={"Content-Type": "application/json"})
    assert wrong.status == 415
    assert (await wrong.json())["error"]["pointer"] == "/Content-Type"


async def test_an_archive_sent_in_slow_pieces_is_read_whole(client: Any, built: bytes) -> None:
    async def pieces() -> Any:
        for start in range(0, len(built), 7000):
            yield built[start : start + 7000]
            await asyncio.sleep(0)  # each piece its own write, as a network delivers them

    response = await client.post("/v1/packages/check", data=pieces(), headers={"Content-Type": "application/gzip"})
    assert (await response.json())["valid"] is True
