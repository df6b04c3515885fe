"""A runtime served the way `serve` serves it (same application, same server options), on a real loopback
port, over plain TCP or TLS, with the MIAW simulator behind it: what the raw-socket tests talk to.

`Probe` sits innermost in the middleware chain and shows how much of the current request's body the
server has received, so a test can wait for the server to have read one piece before it sends the next.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from handover_miaw.api import create_app, server_options
from handover_miaw.settings import Settings
from tests.api.wire_client import WireConnection

ORG_ID = "00D000000000001"
API_KEY = "hm_wire_test_key_0123456789abcdef0123"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Probe:
    """What the server has seen of the current request."""

    request: web.Request | None = None
    answered: bool = False

    def reset(self) -> None:
        """Forget the last request (call before sending the next one)."""
        self.request, self.answered = None, False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.request = request
        try:
            return await handler(request)
        finally:
            self.answered = True

    def has(self, body_bytes: int) -> bool:
        """The server holds at least this many body bytes of the current request, or has answered it."""
        return self.answered or (self.request is not None and self.request.content.total_bytes >= body_bytes)

    async def received(self, body_bytes: int, seconds: float = 5.0) -> None:
        """Wait until `has(body_bytes)`: the server, on this event loop, reads as soon as the loop turns."""
        spins = 0
        try:
            async with asyncio.timeout(seconds):
                while not self.has(body_bytes):
                    spins += 1
                    await asyncio.sleep(0 if spins < 50 else 0.001)
        except TimeoutError:
            raise AssertionError(f"the server did not receive {body_bytes} body bytes") from None


@dataclass
class WireRuntime:
    """A running runtime: its port, TLS trust (None for plain TCP), probe and an aiohttp client for setup."""

    port: int
    tls: ssl.SSLContext | None
    probe: Probe
    http: aiohttp.ClientSession
    settings: Settings
    connections: list[WireConnection] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def connect(self) -> WireConnection:
        """A raw connection; closed at the end of the test."""
        connection = await WireConnection.open(self.port, self.tls)
        self.connections.append(connection)
        return connection


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def tls() -> Tls:
    """A throwaway CA and a certificate for 127.0.0.1 (trustme: no files, no openssl)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Tls(server, client)


WireFactory = Callable[..., Awaitable[WireRuntime]]


@pytest.fixture
async def wire_runtime(tmp_path: Path, tls: Tls, sim_url: str) -> AsyncIterator[WireFactory]:
    """Start runtimes: `await wire_runtime(tls=True, **settings)`; all are stopped after the test."""
    started: list[tuple[web.AppRunner, WireRuntime]] = []

    async def start(*, use_tls: bool = False, **overrides: Any) -> WireRuntime:
        values: dict[str, Any] = {"data_dir": tmp_path / f"data{len(started)}", "insecure_dev": True}
        settings = Settings(**{**values, **overrides})
        app = create_app(settings)
        probe = Probe()
        app.middlewares.append(probe.middleware)
        runner = web.AppRunner(app, **server_options(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server if use_tls else None)
        await site.start()
        port = runner.addresses[0][1]
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls.client if use_tls else False))
        runtime = WireRuntime(port, tls.client if use_tls else None, probe, http, settings)
        started.append((runner, runtime))
        return runtime

    yield start
    for runner, runtime in reversed(started):
        for connection in runtime.connections:
            await connection.close()
        await runtime.http.close()
        await runner.cleanup()


def connector_body(sim_url: str) -> dict[str, Any]:
    """A connector on the simulator whose deliveries are read over SSE."""
    return {
        "config": {"baseUrl": sim_url, "organizationId": ORG_ID, "esDeveloperName": "Bot_Handover_Custom"},
        "delivery": {"format": "sse"},
    }


async def start_live(runtime: WireRuntime, sim_url: str) -> str:
    """A connector on the simulator and a handover with a MIAW conversation on `runtime`; the handover's id."""
    async with runtime.http.put(f"{runtime.url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
        assert response.status == 201
    body = {"connector": "acme", "sessionId": "s1", "userId": "ann"}
    async with runtime.http.post(f"{runtime.url}/v1/handovers", json=body) as response:
        assert response.status == 201
        handover_id: str = (await response.json())["id"]
    return handover_id


@pytest.fixture
async def live(wire_runtime: WireFactory, sim_url: str) -> tuple[WireRuntime, str]:
    """A runtime (no API key asked) with a live handover: (the runtime, the handover's id)."""
    runtime = await wire_runtime()
    return runtime, await start_live(runtime, sim_url)
