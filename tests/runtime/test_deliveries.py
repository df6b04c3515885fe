"""Delivery formats (signed webhook, Cognigy notify/inject, SSE with replay) and the restart guarantee."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from handover_miaw.simulator import Simulator
from tests.waiting import wait_for

from .conftest import Bot, Factory, Receiver, connector_body


async def test_cognigy_notify_for_messages_inject_for_status(bot: Bot) -> None:
    await bot.connector(fmt="cognigy")
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    await bot.sim.send_text(cid, "Hello from Maria")
    await bot.sim.end_session(cid)
    await wait_for(
        lambda: any(
            p.endswith("/inject") and b["data"]["handover"]["status"] == "ended" for p, _, b in bot.receiver.requests
        ),
        "the inject of the end",
    )
    notify = [(h, b) for p, h, b in bot.receiver.requests if p == "/new/v2.0/endpoint/notify"]
    inject = [b for p, _, b in bot.receiver.requests if p == "/new/v2.0/endpoint/inject"]
    assert len(notify) == 1
    headers, body = notify[0]
    assert headers["X-API-Key"] == "cognigy-api-key-1"
    assert body["text"] == "Hello from Maria"
    assert (body["userId"], body["sessionId"], body["URLToken"]) == ("u1", "s1", "url-token-1")
    statuses = [b["data"]["handover"]["status"] for b in inject]
    assert statuses[0] == "queue"
    assert "active" in statuses
    assert statuses[-1] == "ended"
    assert inject[-1]["data"]["handover"]["data"] == {"status": "completed", "reason": "agent_ended"}
    assert all(b["data"]["handover"]["eventType"] in ("handover.status", "handover.ended") for b in inject)
    assert hid


async def _read_sse(
    api: TestClient[Any, Any], hid: str, last_event_id: str | None, until: str
) -> list[tuple[str, str, dict[str, Any]]]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[tuple[str, str, dict[str, Any]]] = []
    async with api.get(f"/v1/handovers/{hid}/events", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async with asyncio.timeout(5):
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if "data" in fields:
                    events.append((fields["id"], fields["event"], orjson.loads(fields["data"])))
                    if fields["event"] == until:
                        break
                fields = {}
    return events


async def test_sse_format_replays_from_last_event_id(bot: Bot) -> None:
    await bot.connector(fmt="sse")
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    for text in ("one", "two"):
        await bot.sim.send_text(cid, text)
    await bot.sim.end_session(cid)
    await bot.wait_state(hid, "ended")
    everything = await _read_sse(bot.api, hid, None, "handover.ended")
    kinds = [kind for _, kind, _ in everything]
    assert kinds[0] == "handover.status"
    assert kinds[-1] == "handover.ended"
    texts = [data["data"]["text"] for _, kind, data in everything if kind == "agent.message"]
    assert texts == ["one", "two"]
    ids = [int(i) for i, _, _ in everything]
    assert ids == sorted(ids)
    second_message = next(i for i, kind, d in everything if kind == "agent.message" and d["data"]["text"] == "one")
    replay = await _read_sse(bot.api, hid, second_message, "handover.ended")
    assert [d["data"]["text"] for _, k, d in replay if k == "agent.message"] == ["two"]
    assert replay[-1][1] == "handover.ended"


async def test_sse_format_streams_live(bot: Bot) -> None:
    await bot.connector(fmt="sse")
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    reader = asyncio.create_task(_read_sse(bot.api, hid, None, "agent.message"))
    await bot.sim.accept(cid)
    await bot.sim.send_text(cid, "live")
    events = await asyncio.wait_for(reader, 5)
    assert events[-1][2]["data"]["text"] == "live"


async def test_webhook_failures_are_retried_in_order(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid)
    await wait_for(lambda: "active" in bot.receiver.statuses(hid), "the active status")
    bot.receiver.fail_next = 3
    for text in ("a", "b", "c"):
        await bot.sim.send_text(cid, text)
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 3, "retried deliveries", seconds=10)
    assert [d["data"]["text"] for d in bot.receiver.of_type("agent.message", hid)] == ["a", "b", "c"]
    assert bot.receiver.fail_next == 0


async def test_restart_resumes_and_delivers_everything_once_in_order(
    start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    first = await start_runtime()
    bot = Bot(first, sim, receiver, sim_url)
    await bot.connector()
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await sim.accept(cid, agent="Maria")
    await sim.send_text(cid, "before")
    await wait_for(lambda: len(receiver.of_type("agent.message", hid)) == 1, "the first message")
    await first.close()
    for text in ("while-down-1", "while-down-2", "while-down-3"):
        await sim.send_text(cid, text)
    second = await start_runtime()
    await wait_for(lambda: len(receiver.of_type("agent.message", hid)) >= 4, "catch-up after restart", seconds=10)
    await sim.send_text(cid, "after")
    await wait_for(
        lambda: len(receiver.of_type("agent.message", hid)) >= 5, "the message after the restart", seconds=10
    )
    texts = [d["data"]["text"] for d in receiver.of_type("agent.message", hid)]
    assert texts == ["before", "while-down-1", "while-down-2", "while-down-3", "after"]
    ids = [d["id"] for d in receiver.deliveries]
    assert len(ids) == len(set(ids))
    bot.api = second
    response = await second.post(f"/v1/handovers/{hid}/messages", json={"id": "x", "text": "still here"})
    assert response.status == 202


@pytest.mark.parametrize("fmt", ["webhook", "cognigy"])
async def test_connector_view_never_shows_secrets(bot: Bot, fmt: str) -> None:
    await bot.connector(fmt=fmt)
    response = await bot.api.get("/v1/connectors/acme")
    text = await response.text()
    assert "whsec_" not in text
    assert "cognigy-api-key-1" not in text
    assert connector_body(bot.sim_url, bot.receiver, fmt=fmt)["config"]["baseUrl"] in text
