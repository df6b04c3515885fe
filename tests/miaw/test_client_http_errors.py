"""Exact HTTP error paths the simulator cannot produce.

aioresponses (the maintained aioresponses-ng fork; 0.7.9 breaks on aiohttp 3.14) mocks a fake SCRT host
and passes loopback through, so the simulator still answers where a test also needs it. A truncated body
is produced for real by a raw socket server, so aiohttp's own parser detects it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aioresponses import aioresponses
from yarl import URL

from handover_miaw.miaw import (
    MiawClient,
    MiawConnectionError,
    MiawProtocolError,
    MiawResponseError,
    MiawServerError,
)

from .conftest import DEPLOYMENT, FAST_RETRY, ORG_ID
from .helpers import FakeClock

SCRT = "https://example.my.salesforce-scrt.com"
TOKEN_URL = f"{SCRT}/iamessage/api/v2/authorization/unauthenticated/access-token"
EXPECTED_TOKEN_BODY = {
    "orgId": ORG_ID,
    "esDeveloperName": DEPLOYMENT,
    "capabilitiesVersion": "1",
    "platform": "Web",
    "context": {"appName": "handover-miaw", "clientVersion": "0.1.0"},
}


@pytest.fixture
async def mocked_client(clock: FakeClock) -> AsyncIterator[MiawClient]:
    async with MiawClient(SCRT, ORG_ID, DEPLOYMENT, retry_policy=FAST_RETRY, clock=clock) as client:
        yield client


def sent_bodies(mock: aioresponses, method: str, url: str) -> list[object]:
    assert mock.requests is not None
    return [orjson.loads(call.kwargs["data"]) for call in mock.requests[(method, URL(url))]]


async def test_non_json_500_is_retried_then_a_server_error(mocked_client: MiawClient) -> None:
    with aioresponses(passthrough=["http://127.0.0.1"]) as mock:
        mock.post(
            TOKEN_URL, status=500, body="<html>Internal Server Error</html>", content_type="text/html", repeat=True
        )
        with pytest.raises(MiawServerError) as info:
            await mocked_client.unauthenticated_access_token()
        bodies = sent_bodies(mock, "POST", TOKEN_URL)
    assert info.value.body == "<html>Internal Server Error</html>"
    assert "Internal Server Error" in info.value.detail
    assert bodies == [EXPECTED_TOKEN_BODY] * FAST_RETRY.max_attempts


async def test_non_json_success_is_a_protocol_error(mocked_client: MiawClient) -> None:
    with aioresponses() as mock:
        mock.post(TOKEN_URL, status=200, body="OK", content_type="text/plain")
        with pytest.raises(MiawProtocolError):
            await mocked_client.unauthenticated_access_token()
        assert sent_bodies(mock, "POST", TOKEN_URL) == [EXPECTED_TOKEN_BODY]


async def test_redirect_is_not_followed(mocked_client: MiawClient) -> None:
    with aioresponses() as mock:
        mock.post(TOKEN_URL, status=302, headers={"Location": "https://elsewhere.example/steal"})
        with pytest.raises(MiawResponseError) as info:
            await mocked_client.unauthenticated_access_token()
        assert mock.requests is not None
        assert len(mock.requests) == 1
    assert info.value.status == 302
    assert info.value.code == "miaw.unexpected_status"


async def test_loopback_passes_through_next_to_a_mock(client: MiawClient, mocked_client: MiawClient) -> None:
    with aioresponses(passthrough=["http://127.0.0.1"]) as mock:
        mock.post(TOKEN_URL, status=503, body="", repeat=True)
        token = await client.unauthenticated_access_token()  # the simulator, for real
        with pytest.raises(MiawServerError):
            await mocked_client.unauthenticated_access_token()
    assert token.subject is not None


@pytest.fixture
async def truncating_server() -> AsyncIterator[str]:
    """Answers every request with headers promising 100 bytes, sends 12, and hangs up."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        writer.write(b'{"accessToke')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_truncated_body_is_a_connection_error(truncating_server: str, clock: FakeClock) -> None:
    async with MiawClient(truncating_server, ORG_ID, DEPLOYMENT, retry_policy=FAST_RETRY, clock=clock) as client:
        with pytest.raises(MiawConnectionError) as info:
            await client.unauthenticated_access_token()
    assert info.value.code == "miaw.connection"
    assert "ClientPayloadError" in info.value.detail


async def test_the_observer_is_told_of_every_attempt(clock: FakeClock) -> None:
    seen: list[tuple[str, str]] = []
    durations: list[float] = []

    def observe(endpoint: str, outcome: str, seconds: float) -> None:
        seen.append((endpoint, outcome))
        durations.append(seconds)

    async with MiawClient(SCRT, ORG_ID, DEPLOYMENT, retry_policy=FAST_RETRY, clock=clock, observer=observe) as client:
        with aioresponses() as mock:
            mock.post(TOKEN_URL, status=503, body="{}")
            mock.post(TOKEN_URL, exception=aiohttp.ClientConnectionError("reset"))
            mock.post(TOKEN_URL, status=200, payload={"accessToken": "a.b.c", "lastEventId": "0"})
            await client.unauthenticated_access_token()
    assert seen == [
        ("access_token", "503"),
        ("access_token", "ClientConnectionError"),
        ("access_token", "200"),
    ]
    assert len(durations) == 3
    assert all(d >= 0 for d in durations)
