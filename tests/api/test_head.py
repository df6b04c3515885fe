"""HEAD is answered wherever GET is, as aiohttp's `add_get` gives it: load balancers and uptime checks ask
`HEAD /healthz`. The API's routes are added with an expect handler of their own, and that path had left HEAD
out (405 on every API route)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from handover_miaw.api import create_app
from handover_miaw.settings import Settings

KEY = "k" * 40


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/v1/handovers", "/ui/"])
async def test_head_is_answered_like_get_without_a_body(tmp_path: Path, path: str) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", api_keys=(KEY,), log_level="ERROR"))
    headers = {"Authorization": f"Bearer {KEY}"}
    async with TestClient(TestServer(app)) as client:
        async with client.get(path, headers=headers) as got:
            assert got.status == 200
        async with client.head(path, headers=headers) as head:
            assert head.status == 200
            assert head.headers["Content-Type"] == got.headers["Content-Type"]
            assert await head.read() == b""
        async with client.head(path) as without_key:
            assert without_key.status == (401 if path == "/v1/handovers" else 200)


async def test_a_post_only_route_still_refuses_head(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", insecure_dev=True, log_level="ERROR"))
    async with TestClient(TestServer(app)) as client, client.head("/v1/handovers/ho_1/messages") as response:
        assert response.status == 405
