"""Layered fixtures for end-to-end runtime tests: simulator → webhook receiver → runtime → API client.

Everything runs over real loopback HTTP: the runtime talks to the simulator's REST + SSE endpoints and
delivers to a real receiver that checks every signature.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from handover_miaw.api import create_app
from handover_miaw.delivery.envelope import SIGNATURE_HEADER, verify
from handover_miaw.settings import Settings
from handover_miaw.simulator import Simulator
from tests.waiting import wait_for

ORG_ID = "00D000000000001"
SECRET = "whsec_0123456789abcdef"
API_KEY = "hm_test_key_0123456789abcdef0123456789"

Factory = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Receiver:
    """A webhook receiver that verifies signatures and records every delivery it accepts."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0
    bad_signatures: int = 0
    url: str = ""

    def of_type(self, kind: str, handover_id: str | None = None) -> list[dict[str, Any]]:
        return [
            d for d in self.deliveries if d["type"] == kind and (handover_id is None or d["handoverId"] == handover_id)
        ]

    def statuses(self, handover_id: str) -> list[str]:
        return [d["data"]["status"] for d in self.of_type("handover.status", handover_id)]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.path, dict(request.headers), orjson.loads(body)))
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        if request.path == "/hook":
            try:
                verify(SECRET, body, request.headers.get(SIGNATURE_HEADER, ""), time.time())
            except ValueError:
                self.bad_signatures += 1
                return web.Response(status=401)
            self.deliveries.append(orjson.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    server: TestServer = await aiohttp_server(app)
    receiver.url = str(server.make_url("")).rstrip("/")
    return receiver


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", insecure_dev=True, api_keys=(API_KEY,), heartbeat_timeout_s=2.0)


@pytest.fixture
def start_runtime(sim_url: str, receiver: Receiver, aiohttp_client: Any, settings: Settings) -> Factory:
    """Start a runtime (again, for restart tests) on the same settings and data directory.

    The simulator and the receiver come first in the arguments so that their servers are set up before
    the runtime's client factory and torn down after it, as in production: the runtime closes its MIAW
    streams and finishes its deliveries before Salesforce and the bot platform go away.
    """

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        merged = Settings(**{**{f: getattr(settings, f) for f in settings.__dataclass_fields__}, **overrides})
        client: TestClient[Any, Any] = await aiohttp_client(create_app(merged))
        return client

    return start


@pytest.fixture
async def runtime(start_runtime: Factory) -> TestClient[Any, Any]:
    return await start_runtime()


def connector_body(sim_url: str, receiver: Receiver, *, fmt: str = "webhook", **config: Any) -> dict[str, Any]:
    delivery: dict[str, Any] = {"format": fmt}
    if fmt == "webhook":
        delivery.update(url=f"{receiver.url}/hook", secret=SECRET)
    elif fmt == "cognigy":
        delivery.update(url=receiver.url, urlToken="url-token-1", apiKey="cognigy-api-key-1")
    return {
        "config": {"baseUrl": sim_url, "organizationId": ORG_ID, "esDeveloperName": "Bot_Handover_Custom", **config},
        "delivery": delivery,
    }


@dataclass
class Bot:
    """The bot platform's side: the runtime's API client plus the simulator as the agent."""

    api: TestClient[Any, Any]
    sim: Simulator
    receiver: Receiver
    sim_url: str

    async def connector(self, name: str = "acme", *, fmt: str = "webhook", **config: Any) -> None:
        response = await self.api.put(
            f"/v1/connectors/{name}", json=connector_body(self.sim_url, self.receiver, fmt=fmt, **config)
        )
        assert response.status in (200, 201), await response.text()

    async def start(self, session: str = "s1", *, connector: str = "acme", **body: Any) -> dict[str, Any]:
        payload = {"connector": connector, "sessionId": session, "userId": "u1", **body}
        response = await self.api.post("/v1/handovers", json=payload)
        assert response.status == 201, await response.text()
        handover: dict[str, Any] = await response.json()
        return handover

    async def with_agent(self, agent: str = "Maria") -> tuple[str, str]:
        """A handover started and accepted by `agent`, once the runtime has it active: (its id, MIAW's
        conversation id)."""
        handover = await self.start()
        hid, cid = handover["id"], handover["conversationId"]
        await self.sim.accept(cid, agent=agent)
        await self.wait_state(hid, "active")
        return hid, cid

    async def handover(self, handover_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/v1/handovers/{handover_id}")
        assert response.status == 200
        data: dict[str, Any] = await response.json()
        return data

    async def wait_state(self, handover_id: str, state: str, seconds: float = 5.0) -> dict[str, Any]:
        current: dict[str, Any] = {}

        async def reached() -> bool:
            nonlocal current
            current = await self.handover(handover_id)
            return current["state"] == state

        try:
            await wait_for(reached, f"handover {handover_id} to be {state}", seconds)
        except AssertionError as error:
            raise AssertionError(f"{error}: it stayed {current.get('state')}") from None
        return current


@pytest.fixture
async def bot(runtime: TestClient[Any, Any], sim: Simulator, receiver: Receiver, sim_url: str) -> Bot:
    return Bot(runtime, sim, receiver, sim_url)


REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A key namespace of the shared Redis for this test, its keys deleted afterwards (never FLUSHDB).

    Name it before `start_runtime` in a test's arguments: fixtures are torn down in the reverse order, and its
    keys deleted under a runtime still running made that runtime's shutdown hang past the test's timeout
    (once in CI; two of five runs when the keys were deleted on purpose)."""
    namespace = f"hm-test-{uuid.uuid4().hex}"
    yield namespace
    with redis.Redis.from_url(REDIS) as client:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
