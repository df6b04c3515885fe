"""A Redis store that crashes mid-traffic loses nothing when it runs with the append-only file.

A private redis-server (its own port and directory, AOF with `appendfsync always`) holds the store of a
runtime subprocess serving live handovers with traffic both ways. In the middle of a round Redis is
SIGKILLed, stays down for a second and is started again on its files. Writes the runtime could not make
meanwhile are retried (events offered again by the stream, user messages retried with the same id, the
dispatcher's next pass), so at the end every agent message reached the receiver once per delivery id and
in order, every user message reached MIAW once, and every handover still works and ends cleanly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from handover_miaw.simulator import Simulator, SimulatorConfig
from handover_miaw.simulator import create_app as create_sim_app
from tests.private_redis import PrivateRedis, redis_server_available
from tests.processes import RuntimeProcess, free_port
from tests.waiting import wait_for

from .harness import FlakyReceiver, User, count_agent_side, count_user_side, probe_every_agent
from .test_chaos import ORG_ID, _connectors_file, _end_all, _states

pytestmark = pytest.mark.skipif(not redis_server_available(), reason="needs a redis-server binary")

HANDOVERS = 12
ROUNDS = 5
CRASH_IN_ROUND = 2
DOWN_S = 1.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis", ["--appendonly", "yes", "--appendfsync", "always", "--save", ""])
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(180)
async def test_a_redis_crash_mid_traffic_loses_and_doubles_nothing(
    aiohttp_server: Any, tmp_path: Path, redis_server: PrivateRedis
) -> None:
    sim = Simulator(SimulatorConfig(org_id=ORG_ID, ping_interval_s=0.5))
    sim_server: TestServer = await aiohttp_server(create_sim_app(sim))
    receiver = FlakyReceiver(failure_rate=0.0, rng=random.Random(7))
    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", receiver.handle)
    receiver_server: TestServer = await aiohttp_server(receiver_app)
    connectors = _connectors_file(
        tmp_path / "connectors.json",
        str(sim_server.make_url("")).rstrip("/"),
        str(receiver_server.make_url("")).rstrip("/"),
    )
    env = {
        "HANDOVER_MIAW_STORE": f"{redis_server.url}?namespace=restart",
        "HANDOVER_MIAW_HEARTBEAT_TIMEOUT_S": "3",
        "HANDOVER_MIAW_LOG_LEVEL": "WARNING",
    }
    runtime = RuntimeProcess(free_port(), tmp_path / "data", connectors, tmp_path / "runtime.log", env)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await runtime.start(http)
        try:
            line = await _run(sim, receiver, runtime, redis_server, http)
        except BaseException:
            print(runtime.tail())
            raise
        finally:
            await runtime.stop()
    print(line)
    assert "lost=0 duplicated=0 out_of_order=0 stuck=0" in line, line


async def _run(
    sim: Simulator, receiver: FlakyReceiver, runtime: RuntimeProcess, server: PrivateRedis, http: aiohttp.ClientSession
) -> str:
    async def start(index: int) -> dict[str, Any]:
        body = {"connector": "acme", "sessionId": f"restart-{index}", "userId": f"user-{index}"}
        async with http.post(f"{runtime.url}/v1/handovers", json=body) as response:
            assert response.status == 201, await response.text()
            handover: dict[str, Any] = await response.json()
            return handover

    handovers = list(await asyncio.gather(*(start(i) for i in range(HANDOVERS))))
    for handover in handovers:
        await sim.accept(handover["conversationId"], agent="Maria")
    user = User(http, runtime.url)
    agent_expected: dict[str, list[str]] = {h["id"]: [] for h in handovers}
    user_expected: dict[str, list[str]] = {h["conversationId"]: [] for h in handovers}
    spread = random.Random(11)

    async def both_ways(handover: dict[str, Any], round_no: int) -> None:
        hid, cid = handover["id"], handover["conversationId"]
        for step in range(3):
            if round_no == CRASH_IN_ROUND:
                await asyncio.sleep(spread.uniform(0, 0.8))  # spread the round across the crash
            text = f"agent {round_no}.{step} to {hid}"
            agent_expected[hid].append(text)
            await sim.send_text(cid, text)
            user_text = f"user {round_no}.{step} of {hid}"
            user_expected[cid].append(user_text)
            assert await user.send(hid, f"m{round_no}.{step}", user_text)

    for round_no in range(ROUNDS):
        traffic = asyncio.gather(*(both_ways(h, round_no) for h in handovers))
        if round_no == CRASH_IN_ROUND:
            # Crash once this round's traffic is flowing: some of its agent messages have reached the bot.
            before = len(receiver.unique())
            await wait_for(
                lambda before=before: len(receiver.unique()) > before, "traffic of the crash round", seconds=30
            )
            await server.crash_and_restart(DOWN_S)
        await traffic

    delivered_probes = await probe_every_agent(sim, receiver, handovers, agent_expected)
    stuck = {h["id"] for h in handovers if h["id"] not in delivered_probes}
    await _end_all(sim, receiver, handovers, http, runtime.url)
    final_states = await _states(http, runtime.url)
    stuck |= {h["id"] for h in handovers if final_states.get(h["id"]) != "ended"}
    agent_in, agent_lost, agent_dup, out_of_order = count_agent_side(agent_expected, receiver.unique())
    received = {
        h["conversationId"]: [m.text for m in sim.conversation(h["conversationId"]).end_user_messages]
        for h in handovers
    }
    user_in, user_lost, user_dup = count_user_side(user_expected, received)
    assert not user.refused, user.refused
    print(
        f"redis restart faults: redis_starts={server.starts} down_s={DOWN_S} user_retries={user.retries} "
        f"receiver_calls={receiver.calls} duplicate_delivery_calls={len(receiver.deliveries) - len(receiver.unique())}"
    )
    return (
        f"redis restart: handovers={len(handovers)} agent_messages={agent_in} user_messages={user_in} "
        f"lost={agent_lost + user_lost} duplicated={agent_dup + user_dup} out_of_order={out_of_order} "
        f"stuck={len(stuck)}"
    )
