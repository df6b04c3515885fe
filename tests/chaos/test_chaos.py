"""Chaos: 50 concurrent handovers with traffic both ways while everything around the runtime misbehaves.

The simulator (in this process) drops streams every few events, answers 429 and 503, and sends events
twice; the webhook receiver (in this process) refuses 20% of the calls; the runtime is a real
subprocess, SIGKILLed twice in the middle of the traffic and restarted on the same data directory. A user
message whose POST failed because the runtime was down is retried with the same id (the idempotency
contract). At the end every agent message must have reached the receiver exactly once per delivery id
and in order per handover, every user message must have reached MIAW exactly once, and every handover
must still be served (a probe message from each agent arrives) and end cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from handover_miaw.simulator import Simulator, SimulatorConfig
from handover_miaw.simulator import create_app as create_sim_app
from tests.processes import RuntimeProcess, free_port
from tests.waiting import wait_for

from .harness import (
    SECRET,
    FlakyReceiver,
    KillSwitch,
    Tally,
    User,
    count_agent_side,
    count_user_side,
    probe_every_agent,
)

ORG_ID = "00D000000000001"
HANDOVERS = 50
ROUNDS = 6
KILL_IN_ROUNDS = (2, 4)  # the runtime is SIGKILLed in the middle of these rounds


def _connectors_file(path: Path, sim_url: str, receiver_url: str) -> Path:
    body = {
        "connectors": {
            "acme": {
                "config": {"baseUrl": sim_url, "organizationId": ORG_ID, "esDeveloperName": "Bot_Handover_Custom"},
                "delivery": {"format": "webhook", "url": f"{receiver_url}/hook", "secret": SECRET},
            }
        }
    }
    path.write_bytes(orjson.dumps(body))
    return path


@pytest.mark.timeout(180)
async def test_chaos(aiohttp_server: Any, tmp_path: Path) -> None:
    sim = Simulator(SimulatorConfig(org_id=ORG_ID, ping_interval_s=0.5))
    sim_server: TestServer = await aiohttp_server(create_sim_app(sim))
    receiver = FlakyReceiver(failure_rate=0.2, rng=random.Random(20261125))
    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", receiver.handle)
    receiver_server: TestServer = await aiohttp_server(receiver_app)
    connectors = _connectors_file(
        tmp_path / "connectors.json",
        str(sim_server.make_url("")).rstrip("/"),
        str(receiver_server.make_url("")).rstrip("/"),
    )
    runtime = RuntimeProcess(
        free_port(),
        tmp_path / "data",
        connectors,
        tmp_path / "runtime.log",
        {"HANDOVER_MIAW_HEARTBEAT_TIMEOUT_S": "3", "HANDOVER_MIAW_LOG_LEVEL": "WARNING"},
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await runtime.start(http)
        try:
            tally = await _run(sim, receiver, runtime, http)
        except BaseException:
            print(runtime.tail())
            raise
        finally:
            await runtime.stop()
    print(tally.line())
    assert receiver.bad_signatures == 0
    assert (tally.lost, tally.duplicated, tally.out_of_order, tally.stuck) == (0, 0, 0, 0), tally.line()


async def _start_all(sim: Simulator, http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    sim.fail_next("access_token", 503, count=2)
    sim.fail_next("create_conversation", 429, count=2, retry_after=1)

    async def start(index: int) -> dict[str, Any]:
        body = {"connector": "acme", "sessionId": f"chaos-{index}", "userId": f"user-{index}"}
        async with http.post(f"{url}/v1/handovers", json=body) as response:
            assert response.status == 201, await response.text()
            handover: dict[str, Any] = await response.json()
            return handover

    return list(await asyncio.gather(*(start(i) for i in range(HANDOVERS))))


async def _run(sim: Simulator, receiver: FlakyReceiver, runtime: RuntimeProcess, http: aiohttp.ClientSession) -> Tally:
    handovers = await _start_all(sim, http, runtime.url)
    for handover in handovers:
        await sim.accept(handover["conversationId"], agent="Maria")
    sim.drop_streams(every_n_events=3)
    user = User(http, runtime.url)
    switch = KillSwitch(runtime)
    sim.listeners.append(switch)
    agent_expected: dict[str, list[str]] = {h["id"]: [] for h in handovers}
    user_expected: dict[str, list[str]] = {h["conversationId"]: [] for h in handovers}
    accepted = 0

    spread = random.Random(5)

    async def both_ways(handover: dict[str, Any], round_no: int) -> None:
        nonlocal accepted
        hid, cid = handover["id"], handover["conversationId"]
        if round_no in KILL_IN_ROUNDS:
            # Spread the round over a second and a half so the kill lands among requests in flight.
            await asyncio.sleep(spread.uniform(0, 1.5))
        text = f"agent {round_no} to {hid}"
        agent_expected[hid].append(text)
        await sim.send_text(cid, text)
        user_text = f"user {round_no} of {hid}"
        user_expected[cid].append(user_text)
        if await user.send(hid, f"m{round_no}", user_text):
            accepted += 1

    for round_no in range(ROUNDS):
        if round_no == 1:
            sim.fail_next("send_message", 503, count=6)
        if round_no == 3:
            sim.fail_next("send_message", 429, count=3, retry_after=1)
            sim.duplicate_next_events(40)
            sim.drop_streams()
        traffic = asyncio.gather(*(both_ways(h, round_no) for h in handovers))
        if round_no in KILL_IN_ROUNDS:
            # Kill in the middle of the round, at the instant MIAW stores a user message.
            switch.arm(HANDOVERS // 3)
            async with asyncio.timeout(30):
                await switch.fired.wait()
            await runtime.reap()
            await runtime.start(http)
        await traffic

    sim.reset_faults()
    delivered_probes = await probe_every_agent(sim, receiver, handovers, agent_expected)
    states = await _states(http, runtime.url)
    stuck = {h["id"] for h in handovers if states.get(h["id"]) != "ended" and h["id"] not in delivered_probes}
    await _end_all(sim, receiver, handovers, http, runtime.url)
    unique = receiver.unique()
    agent_in, agent_lost, agent_dup, out_of_order = count_agent_side(agent_expected, unique)
    received = {
        h["conversationId"]: [m.text for m in sim.conversation(h["conversationId"]).end_user_messages]
        for h in handovers
    }
    user_in, user_lost, user_dup = count_user_side(user_expected, received)
    final_states = await _states(http, runtime.url)
    stuck |= {h["id"] for h in handovers if final_states.get(h["id"]) != "ended"}
    assert not user.refused, user.refused
    statuses = [c.status for c in sim.calls]
    stream_opens = sum(c.endpoint == "sse" for c in sim.calls)
    print(
        f"chaos faults: runtime_starts={runtime.starts} user_retries={user.retries} "
        f"receiver_refused={receiver.refused}/{receiver.calls} stream_opens={stream_opens} "
        f"miaw_429={statuses.count(429)} miaw_503={statuses.count(503)}"
    )
    return Tally(
        handovers=len(handovers),
        agent_messages=agent_in,
        user_messages=user_in,
        lost=agent_lost + user_lost,
        duplicated=agent_dup + user_dup,
        out_of_order=out_of_order,
        stuck=len(stuck),
    )


async def _states(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    async with http.get(f"{url}/v1/handovers") as response:
        assert response.status == 200
        body = await response.json()
    return {h["id"]: h["state"] for h in body["handovers"]}


async def _end_all(
    sim: Simulator, receiver: FlakyReceiver, handovers: list[dict[str, Any]], http: aiohttp.ClientSession, url: str
) -> None:
    """The agents end every chat: each handover must reach `ended` and its end must be delivered."""
    for handover in handovers:
        await sim.end_session(handover["conversationId"])

    def ends_in() -> int:
        return len({d["handoverId"] for d in receiver.unique() if d["type"] == "handover.ended"})

    with contextlib.suppress(AssertionError):  # a handover that never ends is counted as stuck
        await wait_for(lambda: ends_in() == len(handovers), "every end", seconds=30)
