"""Three runtime processes on one Redis: the API answers on any of them, each live handover's stream is
owned by one process, and when a process is SIGKILLed the others take its streams over.

Every agent message must reach the bot exactly once and in order per handover, including those sent while
the killed process's leases were lapsing. The takeover time (kill → first delivery of a message sent after
the kill, for the killed process's handovers) is printed; it is bounded by the lease TTL plus one renewal
interval.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from handover_miaw.delivery.envelope import SIGNATURE_HEADER, verify
from handover_miaw.simulator import Simulator, SimulatorConfig
from handover_miaw.simulator import create_app as create_sim_app
from tests.processes import RuntimeProcess, free_port
from tests.waiting import wait_for

REDIS = "redis://127.0.0.1:6379/0"
SECRET = "whsec_takeover_0123456789"
ORG_ID = "00D000000000001"
HANDOVERS = 30
LEASE_TTL_S = 2.0


class Receiver:
    """Signed-webhook receiver that notes when each delivery first arrived."""

    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.unique: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verify(SECRET, body, request.headers[SIGNATURE_HEADER], time.time())
        delivery = orjson.loads(body)
        if delivery["id"] not in self.first_seen:
            self.first_seen[delivery["id"]] = time.monotonic()
            self.unique.append(delivery)
        return web.Response(status=204)

    def messages(self, handover_id: str) -> list[dict[str, Any]]:
        return [d for d in self.unique if d["type"] == "agent.message" and d["handoverId"] == handover_id]


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    name = f"hm-test-{uuid.uuid4().hex}"
    yield name
    client = redis.asyncio.Redis.from_url(REDIS)
    async for key in client.scan_iter(match=f"{name}:*"):
        await client.delete(key)
    await client.aclose()


@pytest.mark.timeout(120)
async def test_a_killed_process_s_handovers_are_taken_over(aiohttp_server: Any, tmp_path: Path, namespace: str) -> None:
    sim = Simulator(SimulatorConfig(org_id=ORG_ID, ping_interval_s=0.5))
    sim_server: TestServer = await aiohttp_server(create_sim_app(sim))
    receiver = Receiver()
    hook = web.Application()
    hook.router.add_post("/hook", receiver.handle)
    hook_server: TestServer = await aiohttp_server(hook)
    connectors = tmp_path / "connectors.json"
    connectors.write_text(
        json.dumps(
            {
                "connectors": {
                    "acme": {
                        "config": {
                            "baseUrl": str(sim_server.make_url("")).rstrip("/"),
                            "organizationId": ORG_ID,
                            "esDeveloperName": "Bot_Handover_Custom",
                        },
                        "delivery": {"format": "webhook", "url": str(hook_server.make_url("/hook")), "secret": SECRET},
                    }
                }
            }
        )
    )
    env = {
        "HANDOVER_MIAW_STORE": f"{REDIS}?namespace={namespace}",
        "HANDOVER_MIAW_LEASE_TTL_S": str(LEASE_TTL_S),
        "HANDOVER_MIAW_HEARTBEAT_TIMEOUT_S": "3",
        "HANDOVER_MIAW_LOG_LEVEL": "WARNING",
    }
    runtimes = [
        RuntimeProcess(free_port(), tmp_path / f"d{i}", connectors, tmp_path / f"runtime{i}.log", env) for i in range(3)
    ]
    async with aiohttp.ClientSession() as http:
        try:
            await asyncio.gather(*(r.start(http) for r in runtimes))

            async def post(runtime: RuntimeProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
                async with http.post(runtime.url + path, json=body) as response:
                    assert response.status in (200, 201, 202), await response.text()
                    data: dict[str, Any] = await response.json()
                    return data

            started = await asyncio.gather(
                *(
                    post(runtimes[i % 3], "/v1/handovers", {"connector": "acme", "sessionId": f"s{i}", "userId": "u"})
                    for i in range(HANDOVERS)
                )
            )
            by_id = {h["id"]: (h["conversationId"], i % 3) for i, h in enumerate(started)}
            for cid, _ in by_id.values():
                await sim.accept(cid, agent="Maria")

            async def agent_round(tag: str) -> None:
                for k in range(3):
                    for handover_id, (cid, _) in by_id.items():
                        await sim.send_text(cid, f"{handover_id}:{tag}{k}")

            await agent_round("a")
            await wait_for(
                lambda: len(receiver.unique) >= HANDOVERS * 5, "the first round of agent messages", seconds=30
            )

            killed = runtimes[2]
            killed.kill_now()
            await killed.reap()
            killed_at = time.monotonic()
            await agent_round("b")
            expected = 6 * HANDOVERS
            await wait_for(
                lambda: sum(len(receiver.messages(h)) for h in by_id) >= expected,
                "every agent message after the kill",
                seconds=60,
            )

            lost = duplicated = out_of_order = 0
            for handover_id in by_id:
                texts = [d["data"]["text"] for d in receiver.messages(handover_id)]
                wanted = [f"{handover_id}:{tag}{k}" for tag in "ab" for k in range(3)]
                lost += len(set(wanted) - set(texts))
                duplicated += len(texts) - len(set(texts))
                out_of_order += int([t for t in texts if t in wanted] != wanted)
            moved = [h for h, (_, owner) in by_id.items() if owner == 2]
            takeover = max(
                receiver.first_seen[next(d["id"] for d in receiver.messages(h) if d["data"]["text"].endswith(":b0"))]
                - killed_at
                for h in moved
            )
            orphan = moved[0]
            reply = await post(
                runtimes[0], f"/v1/handovers/{orphan}/messages", {"id": "after-kill", "text": "still here"}
            )
            assert reply["state"] == "sent"
            assert [m.text for m in sim.conversation(by_id[orphan][0]).end_user_messages] == ["still here"]
            print(
                f"takeover: processes=3 handovers={HANDOVERS} moved={len(moved)} agent_messages={expected} "
                f"lost={lost} duplicated={duplicated} out_of_order={out_of_order} "
                f"takeover_max_s={takeover:.2f} lease_ttl_s={LEASE_TTL_S}"
            )
            assert (lost, duplicated, out_of_order) == (0, 0, 0)
            assert takeover < LEASE_TTL_S + LEASE_TTL_S / 3 + 5
        except BaseException:
            for runtime in runtimes:
                print(f"--- {runtime.log.name}\n{runtime.tail()}")
            raise
        finally:
            await asyncio.gather(*(r.stop() for r in runtimes))
