"""PUT /v1/connectors refuses internal delivery targets (outside development mode) and control characters
in any value, with 422 naming the field and never echoing the value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.processes import free_port

from .conftest import API_KEY, ORG_ID, SECRET, Factory

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def strict(start_runtime: Factory) -> TestClient[Any, Any]:
    return await start_runtime(insecure_dev=False)


def _body(delivery: dict[str, Any]) -> dict[str, Any]:
    config = {"baseUrl": "https://acme.my.salesforce-scrt.com", "organizationId": ORG_ID, "esDeveloperName": "Bot_X"}
    return {"config": config, "delivery": delivery}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://localhost:6379",
        "http://[::1]:6379/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://0x7f000001:6379/",
        "https://2130706433/",
        "https://localhost/v1/connectors/acme",
    ],
)
async def test_internal_delivery_urls_are_refused(strict: TestClient[Any, Any], url: str) -> None:
    for delivery in (
        {"format": "webhook", "url": url, "secret": SECRET},
        {"format": "cognigy", "url": url, "urlToken": "url-token-1", "apiKey": "cognigy-api-key-1"},
    ):
        response = await strict.put("/v1/connectors/acme", json=_body(delivery), headers=AUTH)
        assert response.status == 422, await response.text()
        (problem,) = (await response.json())["error"]["problems"]
        assert problem["pointer"] == "/delivery/url"
    assert (await strict.get("/v1/connectors", headers=AUTH)).status == 200
    assert (await (await strict.get("/v1/connectors", headers=AUTH)).json())["connectors"] == []


async def test_a_public_https_target_is_accepted(strict: TestClient[Any, Any]) -> None:
    delivery = {"format": "webhook", "url": "https://hooks.example.com/h", "secret": SECRET}
    response = await strict.put("/v1/connectors/acme", json=_body(delivery), headers=AUTH)
    assert response.status == 201, await response.text()


@pytest.mark.parametrize("bad", ["apikey-crlf-1234\r\nX-Injected: yes", "apikey-nul-1234\x00", "apikey-del-1234\x7f"])
async def test_header_values_with_control_characters_are_refused(strict: TestClient[Any, Any], bad: str) -> None:
    delivery = {"format": "cognigy", "url": "https://cognigy.example.com", "urlToken": "url-token-1", "apiKey": bad}
    response = await strict.put("/v1/connectors/acme", json=_body(delivery), headers=AUTH)
    assert response.status == 422
    text = await response.text()
    assert bad not in text
    assert "apikey-" not in text
    (problem,) = (await response.json())["error"]["problems"]
    assert problem["pointer"] == "/delivery/apiKey"
    assert "control characters" in problem["message"]


def test_a_malformed_allow_list_refuses_the_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "handover_miaw", "serve", "--insecure-dev", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "HANDOVER_MIAW_DELIVERY_ALLOW": "receiver.cluster.local,10.0.0.0/33"},
    )
    assert done.returncode == 2
    assert "10.0.0.0/33" in done.stderr
