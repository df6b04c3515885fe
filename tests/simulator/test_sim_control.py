"""The /_sim control API: agent actions over HTTP, state read-back and its error answers."""

from __future__ import annotations

from typing import Any

import pytest

from handover_miaw.simulator import ENDPOINTS, Simulator

from .simhelpers import Api, new_id


async def test_agent_plays_a_conversation_over_http(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    base = f"/conversations/{cid}"
    async with api.stream(token) as stream:
        assert (await api.control(f"{base}/route", {"queuePosition": 2, "estimatedWaitSeconds": 30})).status == 200
        assert (await api.control(f"{base}/queue-position", {"position": 1})).status == 200
        assert (await api.control(f"{base}/accept", {"agent": "Maria"})).status == 200
        assert (await api.control(f"{base}/typing", {"on": True})).status == 200
        sent = await api.control(f"{base}/messages", {"text": "Hello!"})
        entry_id = (await sent.json())["id"]
        choice = await api.control(f"{base}/choices", {"text": "Which?", "options": ["A", "B"]})
        assert "id" in await choice.json()
        shared = {"name": "a.pdf", "mimeType": "application/pdf", "url": "https://example.com/a.pdf"}
        assert (await api.control(f"{base}/files", shared)).status == 200
        assert (await api.control(f"{base}/transfer", {"to": "Bob"})).status == 200
        assert (await api.control(f"{base}/accept")).status == 200
        assert (await api.control(f"{base}/leave")).status == 200
        assert (await api.control(f"{base}/end")).status == 200
        frames = await stream.until("CONVERSATION_SESSION_STATUS_CHANGED")
        frames += await stream.until("CONVERSATION_SESSION_STATUS_CHANGED")
    events = [f.event for f in frames]
    assert events == [
        "CONVERSATION_ROUTING_RESULT",
        "CONVERSATION_QUEUE_POSITION",
        "CONVERSATION_QUEUE_POSITION",
        "CONVERSATION_ROUTING_WORK_RESULT",
        "CONVERSATION_PARTICIPANT_CHANGED",
        "CONVERSATION_SESSION_STATUS_CHANGED",
        "CONVERSATION_TYPING_STARTED_INDICATOR",
        "CONVERSATION_MESSAGE",
        "CONVERSATION_MESSAGE",
        "CONVERSATION_MESSAGE",
        "CONVERSATION_ROUTING_WORK_RESULT",
        "CONVERSATION_PARTICIPANT_CHANGED",
        "CONVERSATION_ROUTING_RESULT",
        "CONVERSATION_ROUTING_WORK_RESULT",
        "CONVERSATION_PARTICIPANT_CHANGED",
        "CONVERSATION_PARTICIPANT_CHANGED",
        "CONVERSATION_SESSION_STATUS_CHANGED",
    ]
    assert frames[7].entry["identifier"] == entry_id
    assert frames[14].payload["entries"][0]["displayName"] == "Bob"
    assert frames[-1].payload["sessionStatus"] == "Ended"


async def test_close_over_http(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    assert (await api.control(f"/conversations/{cid}/close")).status == 200
    assert sim.conversation(cid).closed
    assert (await api.control(f"/conversations/{cid}/messages", {"text": "x", "agent": "M"})).status == 403


async def test_state_lists_end_user_messages_in_order(api: Api) -> None:
    token = await api.token()
    cid = await api.create(token)
    ids = [await api.say(token, cid, text) for text in ("first", "second", "third")]
    state = await (await api.control(f"/conversations/{cid}", method="GET")).json()
    assert [m["id"] for m in state["endUserMessages"]] == ids
    assert [m["text"] for m in state["endUserMessages"]] == ["first", "second", "third"]
    assert state["routingStatus"] == "INITIAL"
    assert state["sessionStatus"] == "Waiting"
    listed = await (await api.control("/conversations", method="GET")).json()
    assert [c["conversationId"] for c in listed["conversations"]] == [cid]


async def test_status_and_endpoints(api: Api) -> None:
    token = await api.token()
    async with api.stream(token) as stream:
        await stream.next()
        status = await (await api.control("/status", method="GET")).json()
    assert status["openStreams"] == 1
    endpoints = await (await api.control("/endpoints", method="GET")).json()
    assert set(endpoints["endpoints"]) == ENDPOINTS


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/conversations/{unknown}/accept", None, 404),
        ("/conversations/{cid}/messages", None, 400),
        ("/conversations/{cid}/messages", {"text": "hi", "extra": 1}, 400),
        ("/conversations/{cid}/messages", {"text": "hi"}, 409),
        ("/conversations/{cid}/leave", None, 409),
        ("/conversations/{cid}/transfer", {"to": "Bob"}, 409),
        ("/conversations/{cid}/choices", {"text": "x", "options": []}, 400),
        ("/conversations/{cid}/queue-position", {"position": "1"}, 400),
        ("/faults/duplicate", {"count": -1}, 400),
        ("/faults/drop-streams", {"everyNEvents": 0}, 400),
        ("/faults/latency", {"endpoint": "sse", "seconds": -1}, 400),
    ],
)
async def test_control_errors(api: Api, path: str, body: Any, status: int) -> None:
    token = await api.token()
    cid = await api.create(token)
    resp = await api.control(path.format(cid=cid, unknown=new_id()), body)
    assert resp.status == status
    assert set(await resp.json()) == {"message", "code"}


async def test_agent_actions_after_session_end_are_409(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.accept(cid)
    await sim.end_session(cid)
    assert (await api.control(f"/conversations/{cid}/messages", {"text": "late"})).status == 409


async def test_control_calls_are_not_logged_or_faulted(api: Api, sim: Simulator) -> None:
    sim.fail_next("access_token", 503, count=1)
    assert (await api.control("/status", method="GET")).status == 200
    assert sim.calls == []
