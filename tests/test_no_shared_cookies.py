"""The runtime's HTTP sessions keep no cookies: one session serves every handover (MIAW) and every
connector (deliveries), so a cookie one answer set would otherwise ride along on other end users' calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from handover_miaw.delivery.guard import delivery_session
from handover_miaw.delivery.targets import TargetPolicy
from handover_miaw.miaw import stream_session


def _cookie_setting_app(seen: list[str | None]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({})
        response.set_cookie("BrowserId", "conversation-a", path="/")
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


@pytest.mark.parametrize(
    "session_factory",
    [stream_session, lambda: delivery_session(TargetPolicy.build(insecure_dev=True, allow=[]))],
    ids=["miaw", "deliveries"],
)
async def test_a_cookie_set_by_one_answer_is_never_sent_again(
    aiohttp_server: Any, session_factory: Callable[[], aiohttp.ClientSession]
) -> None:
    seen: list[str | None] = []
    server: TestServer = await aiohttp_server(_cookie_setting_app(seen))
    session = session_factory()
    try:
        for path in ("/conversation/a", "/conversation/b", "/conversation/a"):
            # By name: aiohttp's jar never keeps a cookie an IP address set.
            async with session.post(f"http://localhost:{server.port}{path}", json={}) as response:
                assert response.status == 200
                assert response.cookies["BrowserId"].value == "conversation-a"  # it was set
    finally:
        await session.close()
    assert seen == [None, None, None]
