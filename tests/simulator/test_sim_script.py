"""The scripted agent plays conversations to the end, and its tasks die with the app."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from handover_miaw.simulator import ScriptedAgent, Simulator, SimulatorConfig, create_app

from .simhelpers import API, DEPLOYMENT, Api, text_body

SCRIPT = ScriptedAgent(
    agent="Maria",
    accept_after_s=0.01,
    queue_position=4,
    greeting="Hi, this is {agent}.",
    reply_template="Echo: {text}",
    close_after_messages=2,
)


async def scripted(aiohttp_client: Any, script: ScriptedAgent = SCRIPT) -> Api:
    sim = Simulator(SimulatorConfig(ping_interval_s=0.05, script=script))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(sim))
    return Api(client, sim)


def script_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("miaw-sim-script-")]


def texts(frames: list[Any]) -> list[str]:
    return [f.payload["abstractMessage"]["staticContent"]["text"] for f in frames if f.event == "CONVERSATION_MESSAGE"]


async def test_scripted_agent_plays_to_the_end(aiohttp_client: Any) -> None:
    api = await scripted(aiohttp_client)
    token = await api.token()
    async with api.stream(token) as stream:
        cid = await api.create(token)
        opening = await stream.until("CONVERSATION_MESSAGE")
        assert [f.event for f in opening] == [
            "CONVERSATION_ROUTING_RESULT",
            "CONVERSATION_QUEUE_POSITION",
            "CONVERSATION_ROUTING_WORK_RESULT",
            "CONVERSATION_PARTICIPANT_CHANGED",
            "CONVERSATION_SESSION_STATUS_CHANGED",
            "CONVERSATION_MESSAGE",
        ]
        assert opening[1].payload["queuePosition"] == 4
        assert texts(opening) == ["Hi, this is Maria."]
        await api.say(token, cid, "one")
        await api.say(token, cid, "two")
        rest = await stream.until("CONVERSATION_SESSION_STATUS_CHANGED")
    assert texts(rest) == ["one", "Echo: one", "two", "Echo: two"]
    assert "CONVERSATION_TYPING_STARTED_INDICATOR" in [f.event for f in rest]
    assert rest[-1].payload["sessionStatus"] == "Ended"
    assert rest[-1].payload["sessionEndedByRole"] == "Agent"
    assert (await api.send(token, cid, text_body("three"))).status == 417
    assert script_tasks() == []


async def test_messages_sent_while_queued_are_answered_after_accept(aiohttp_client: Any) -> None:
    api = await scripted(aiohttp_client, ScriptedAgent(accept_after_s=0.05, greeting=None, close_after_messages=None))
    token = await api.token()
    async with api.stream(token) as stream:
        cid = await api.create(token)
        await api.say(token, cid, "early")
        frames = await stream.until("CONVERSATION_SESSION_STATUS_CHANGED")
        frames += await stream.events(3)
    assert texts(frames) == ["early", "You said: early"]
    assert api.sim.conversation(cid).session_status == "Active"


async def test_new_session_is_played_again(aiohttp_client: Any) -> None:
    api = await scripted(aiohttp_client, ScriptedAgent(accept_after_s=0.01, close_after_messages=1))
    token = await api.token()
    async with api.stream(token) as stream:
        cid = await api.create(token)
        await api.say(token, cid, "first")
        first = await stream.until("CONVERSATION_SESSION_STATUS_CHANGED")
        while first[-1].payload["sessionStatus"] != "Ended":
            first += await stream.until("CONVERSATION_SESSION_STATUS_CHANGED")
        resp = await api.send(token, cid, text_body("again", isNewMessagingSession=True))
        assert resp.status == 202
        second = await stream.until("CONVERSATION_ROUTING_RESULT")
    assert second[0].payload["sessionStatus"] == "Waiting"
    assert api.sim.conversation(cid).sessions == 2


async def test_end_user_close_stops_the_script(aiohttp_client: Any) -> None:
    api = await scripted(aiohttp_client, ScriptedAgent(accept_after_s=30))
    token = await api.token()
    cid = await api.create(token)
    (task,) = script_tasks()
    resp = await api.client.delete(
        f"{API}/conversation/{cid}", params={"esDeveloperName": DEPLOYMENT}, headers=api.auth(token)
    )
    assert resp.status == 204
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 2)
    assert task.cancelled()


async def test_app_cleanup_cancels_script_tasks(aiohttp_client: Any) -> None:
    api = await scripted(aiohttp_client, ScriptedAgent(accept_after_s=30))
    token = await api.token()
    await api.create(token)
    await api.create(token)
    assert len(script_tasks()) == 2
    await asyncio.wait_for(api.client.close(), 5)
    assert script_tasks() == []
    assert api.sim.listeners == []
