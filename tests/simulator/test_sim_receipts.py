"""Receipts both ways, and what a Salesforce-side close emits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from handover_miaw.simulator import Simulator

from .simhelpers import API, Api, Frame, Stream, new_id

FIXTURES = Path(__file__).parent.parent / "fixtures" / "miaw"


def _fixture_shape(name: str) -> tuple[set[str], set[str]]:
    data = json.loads((FIXTURES / name).read_text())
    entry = data["data"]["conversationEntry"]
    return set(entry), set(json.loads(entry["entryPayload"]))


async def _quiet(stream: Stream, within: float = 0.3) -> list[Frame]:
    """Non-ping frames that arrive within ``within`` seconds (a check that nothing more was sent)."""
    seen: list[Frame] = []
    try:
        async with asyncio.timeout(within):
            while True:
                seen.append(await stream.event(within))
    except TimeoutError:
        return seen


async def test_agent_receipts_are_emitted_as_miaw_shapes_them(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.accept(cid, "Maria")
    first = await api.say(token, cid, "one")
    second = await api.say(token, cid, "two")
    async with api.stream(token, str(sim.hub.last_event_id)) as stream:
        delivered = await api.control(f"/conversations/{cid}/delivered", {"messageId": first})
        assert delivered.status == 200
        read = await api.control(f"/conversations/{cid}/read")  # no body: the latest message
        assert read.status == 200
        frames = await stream.events(2)
    assert [f.event for f in frames] == ["CONVERSATION_DELIVERY_ACKNOWLEDGEMENT", "CONVERSATION_READ_ACKNOWLEDGEMENT"]
    assert [f.entry["relatedRecords"] for f in frames] == [[first], [second]]
    assert frames[0].entry["identifier"] == (await delivered.json())["id"]
    for frame, fixture in zip(
        frames, ["sse_delivery_acknowledgement.json", "sse_read_acknowledgement.json"], strict=True
    ):
        entry_keys, payload_keys = _fixture_shape(fixture)
        assert set(frame.entry) == entry_keys
        assert set(frame.payload) == payload_keys
        assert frame.entry["sender"]["role"] == "Agent"
        assert frame.entry["senderDisplayName"] == "Maria"
    view = (await (await api.control(f"/conversations/{cid}", method="GET")).json())["endUserMessages"]
    assert view[0]["deliveredAt"] is not None
    assert view[0]["readAt"] is None
    assert view[1]["readAt"] == frames[1].payload["acknowledgementTimestamp"]


async def test_receipt_errors(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    assert (await api.control(f"/conversations/{cid}/read")).status == 409  # no agent yet
    await sim.accept(cid)
    assert (await api.control(f"/conversations/{cid}/read")).status == 409  # nothing to acknowledge
    await api.say(token, cid, "hello")
    unknown = await api.control(f"/conversations/{cid}/delivered", {"messageId": new_id()})
    assert unknown.status == 404
    wrong = await api.control(f"/conversations/{cid}/delivered", {"messageId": 7})
    assert wrong.status == 400
    assert (await api.control(f"/conversations/{new_id()}/read")).status == 404


async def test_end_user_receipts_show_in_the_control_view(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.accept(cid)
    agent_entry = await sim.send_text(cid, "hello")
    ack_id = new_id()
    body = {"acks": [{"id": ack_id, "entryType": "Delivery", "conversationEntryId": agent_entry}]}
    path = f"{API}/conversation/{cid}/acknowledge-entries"
    assert (await api.client.post(path, json=body, headers=api.auth(token))).status == 200
    view = await (await api.control(f"/conversations/{cid}", method="GET")).json()
    assert view["acks"] == [{"id": ack_id, "entryType": "Delivery", "conversationEntryId": agent_entry}]


async def test_salesforce_side_close_ends_the_session_without_a_close_event(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.accept(cid, "Maria")
    async with api.stream(token, str(sim.hub.last_event_id)) as stream:
        assert (await api.control(f"/conversations/{cid}/close")).status == 200
        left, ended = await stream.events(2)
        rest = await _quiet(stream)
    assert left.event == "CONVERSATION_PARTICIPANT_CHANGED"
    assert left.payload["entries"][0]["operation"] == "remove"
    assert ended.event == "CONVERSATION_SESSION_STATUS_CHANGED"
    assert (ended.payload["sessionStatus"], ended.payload["sessionEndedByRole"]) == ("Ended", "System")
    assert rest == []  # no CONVERSATION_CLOSE_CONVERSATION: that one is the end user's
    assert (await api.send(token, cid, {"message": {}})).status == 403
