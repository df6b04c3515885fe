"""The event router: framing, ids, pings, replay, per-subject streams, headers, agent event shapes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handover_miaw.simulator import Simulator, SimulatorConfig, create_app

from .simhelpers import ORG, Api, Frame, FrameParser, Stream, text_body


def test_frame_parser_reads_standard_frames() -> None:
    parser = FrameParser()
    lines = ["event: X\n", "id: 7\n", 'data: {"a":1}\n', "\n", ": comment\n", "data: 0\n", "\n"]
    frames = [f for f in (parser.feed(line) for line in lines) if f is not None]
    assert frames == [Frame("X", "7", '{"a":1}'), Frame(None, None, "0")]


async def test_framing_headers_and_envelope(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    resp = await api.open_stream(token)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["Cache-Control"] == "no-cache"
    stream = Stream(resp)
    try:
        await sim.accept(conversation_id, "Maria")
        await sim.send_text(conversation_id, "Hi Ann, I can help.")
        frames = await stream.until("CONVERSATION_MESSAGE")
    finally:
        await stream.close()
    message = frames[-1]
    data = message.json
    assert set(data) == {
        "channelPlatformKey",
        "channelType",
        "channelAddressIdentifier",
        "conversationId",
        "conversationEntry",
    }
    assert data["channelType"] == "embedded_messaging"
    assert data["channelAddressIdentifier"] == sim.config.channel_address_identifier
    entry = message.entry
    assert set(entry) == {
        "identifier",
        "entryType",
        "entryPayload",
        "sender",
        "senderDisplayName",
        "clientTimestamp",
        "transcriptedTimestamp",
        "relatedRecords",
    }
    assert isinstance(entry["entryPayload"], str)
    payload = message.payload
    assert payload["entryType"] == "Message" == entry["entryType"]
    assert payload["id"] == entry["identifier"] == payload["abstractMessage"]["id"]
    assert payload["abstractMessage"]["staticContent"]["text"] == "Hi Ann, I can help."
    assert entry["sender"]["role"] == "Agent"
    assert entry["sender"]["appType"] == "agent"
    assert entry["senderDisplayName"] == "Maria"
    assert entry["relatedRecords"] == [sim.conversation(conversation_id).session_id]


async def test_event_ids_increase_and_pings_have_no_id(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    async with api.stream(token) as stream:
        ping = await stream.next()
        assert ping == Frame("ping", None, "0")
        await sim.accept(conversation_id)
        for n in range(3):
            await api.say(token, conversation_id, f"m{n}")
        frames = await stream.events(6)
    ids = [int(f.id or "") for f in frames]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(f.id and f.id.isdigit() for f in frames)


async def test_token_response_last_event_id_skips_older_events(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.accept(conversation_id)
    again = await api.token_response()
    assert int(again["lastEventId"]) == sim.hub.last_event_id > 0


async def test_replay_from_last_event_id(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    async with api.stream(token) as stream:
        await api.say(token, conversation_id, "before")
        seen = await stream.event()
    await api.say(token, conversation_id, "while away 1")
    await api.say(token, conversation_id, "while away 2")
    async with api.stream(token, seen.id or "") as stream:
        replayed = await stream.events(2)
        await api.say(token, conversation_id, "live")
        live = await stream.event()
    texts = [f.payload["abstractMessage"]["staticContent"]["text"] for f in [*replayed, live]]
    assert texts == ["while away 1", "while away 2", "live"]


async def test_no_replay_when_disabled(aiohttp_client: Any) -> None:
    sim = Simulator(SimulatorConfig(ping_interval_s=0.05, replay_on_reconnect=False))
    api = Api(await aiohttp_client(create_app(sim)), sim)
    token = await api.token()
    conversation_id = await api.create(token)
    await api.say(token, conversation_id, "missed")
    async with api.stream(token, "0") as stream:
        await api.say(token, conversation_id, "live")
        first = await stream.event()
    assert first.payload["abstractMessage"]["staticContent"]["text"] == "live"
    listed = await (await api.entries(token, conversation_id, entryTypeFilter="Message")).json()
    assert len(listed["conversationEntries"]) == 2


async def test_stream_is_per_subject_and_serves_all_its_conversations(api: Api, sim: Simulator) -> None:
    ann, bob = await api.token(), await api.token()
    first, second = await api.create(ann), await api.create(ann)
    bobs = await api.create(bob)
    async with api.stream(ann) as stream:
        await api.say(bob, bobs, "bob's")
        await api.say(ann, first, "one")
        await api.say(ann, second, "two")
        frames = await stream.events(2)
    assert [f.json["conversationId"] for f in frames] == [first, second]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Last-Event-Id": "0"}, 400),  # no X-Org-Id
        ({"X-Org-Id": "00D999999999999", "Last-Event-Id": "0"}, 400),
        ({"X-Org-Id": ORG, "Last-Event-Id": "abc"}, 400),
    ],
)
async def test_stream_header_errors(api: Api, headers: dict[str, str], status: int) -> None:
    token = await api.token()
    resp = await api.client.get("/eventrouter/v1/sse", headers={**api.auth(token), **headers})
    assert resp.status == status
    assert (await resp.json())["message"]


async def test_org_mismatch_message_and_18_char_org(api: Api) -> None:
    token = await api.token()
    mismatch = await api.open_stream(token, org="00D999999999999")
    assert (await mismatch.json())["message"] == "OrgId in the header and token must match"
    long_form = await api.open_stream(token, org=ORG + "AAA")
    assert long_form.status == 200
    long_form.close()


async def test_stream_bad_token_is_401(api: Api) -> None:
    resp = await api.open_stream("x.y.z")
    assert resp.status == 401


async def test_shutdown_ends_open_streams(aiohttp_client: Any) -> None:
    sim = Simulator(SimulatorConfig(ping_interval_s=30))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(sim))
    api = Api(client, sim)
    token = await api.token()
    stream = Stream(await api.open_stream(token))
    try:
        await asyncio.wait_for(client.server.close(), 5)
        await stream.ended()
        assert sim.hub.open_streams == 0
    finally:
        await stream.close()


async def payloads(api: Api, sim: Simulator, token: str, count: int, action: Any) -> list[Frame]:
    async with api.stream(token, str(sim.hub.last_event_id)) as stream:
        await action
        return await stream.events(count)


async def test_route_emits_routing_result_and_queue_position(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    routed, queued = await payloads(api, sim, token, 2, sim.route(cid, queue_position=3, estimated_wait_s=90))
    assert routed.event == "CONVERSATION_ROUTING_RESULT"
    assert routed.payload["routingType"] == "Initial"
    assert routed.payload["failureType"] == "None"
    assert routed.payload["estimatedWaitTime"] == {"estimatedWaitTimeInSeconds": 90, "isEWTRequested": True}
    assert queued.event == "CONVERSATION_QUEUE_POSITION"
    assert queued.payload["queuePosition"] == 3
    (moved,) = await payloads(api, sim, token, 1, sim.queue_position(cid, 1))
    assert moved.payload["queuePosition"] == 1


async def test_routing_failure(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    (failed,) = await payloads(api, sim, token, 1, sim.fail_routing(cid, "SubmissionError", "queue closed"))
    assert failed.payload["failureType"] == "SubmissionError"
    assert failed.payload["failureReason"] == "queue closed"
    assert failed.payload["errorMessages"] == ["queue closed"]


async def test_accept_emits_work_result_participant_and_session_active(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    work, joined, active = await payloads(api, sim, token, 3, sim.accept(cid, "Maria"))
    assert work.event == "CONVERSATION_ROUTING_WORK_RESULT"
    assert work.payload["workType"] == "Accepted"
    assert joined.event == "CONVERSATION_PARTICIPANT_CHANGED"
    change = joined.payload["entries"][0]
    assert change["operation"] == "add"
    assert change["displayName"] == "Maria"
    assert change["participant"]["role"] == "Agent"
    assert active.event == "CONVERSATION_SESSION_STATUS_CHANGED"
    assert active.payload["sessionStatus"] == "Active"
    assert active.payload["sessionStatusPrev"] == "Waiting"


async def test_transfer_then_accept_by_new_agent(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.accept(cid, "Maria")
    work, left, rerouted = await payloads(api, sim, token, 3, sim.transfer(cid, "Bob"))
    assert work.payload["workType"] == "Transferred"
    assert left.payload["entries"][0]["operation"] == "remove"
    assert left.payload["entries"][0]["displayName"] == "Maria"
    assert rerouted.payload["routingType"] == "Transfer"
    _, joined = await payloads(api, sim, token, 2, sim.accept(cid))
    assert joined.payload["entries"][0]["displayName"] == "Bob"


async def test_choices_file_typing_shapes(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.accept(cid, "Maria")
    (choices,) = await payloads(api, sim, token, 1, sim.send_choices(cid, "Pick", ["A", "B"]))
    body = choices.payload["abstractMessage"]
    assert body["messageType"] == "ChoicesMessage"
    assert body["choices"]["formatType"] == "Buttons"
    assert [o["titleItem"]["title"] for o in body["choices"]["optionItems"]] == ["A", "B"]
    (shared,) = await payloads(api, sim, token, 1, sim.send_file(cid, "a.pdf", "application/pdf", "https://x/a"))
    attachment = shared.payload["abstractMessage"]["staticContent"]["attachments"][0]
    assert (attachment["name"], attachment["mimeType"], attachment["url"]) == (
        "a.pdf",
        "application/pdf",
        "https://x/a",
    )
    (started,) = await payloads(api, sim, token, 1, sim.typing(cid, True))
    (stopped,) = await payloads(api, sim, token, 1, sim.typing(cid, False))
    assert started.event == "CONVERSATION_TYPING_STARTED_INDICATOR"
    assert stopped.event == "CONVERSATION_TYPING_STOPPED_INDICATOR"
    assert started.entry["senderDisplayName"] == "Maria"


async def test_leave_and_end_session(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.accept(cid)
    (left,) = await payloads(api, sim, token, 1, sim.leave(cid))
    assert left.payload["entries"][0]["operation"] == "remove"
    assert sim.conversation(cid).routing_status == "ROUTED"
    await sim.accept(cid, "Bob")
    removed, ended = await payloads(api, sim, token, 2, sim.end_session(cid))
    assert removed.payload["entries"][0]["displayName"] == "Bob"
    assert ended.payload["sessionStatus"] == "Ended"
    assert ended.payload["sessionEndedByRole"] == "Agent"


async def test_end_user_close_emits_close_conversation(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    path = f"/iamessage/api/v2/conversation/{cid}"
    delete = api.client.delete(path, params={"esDeveloperName": sim.config.es_developer_name}, headers=api.auth(token))
    ended, closed = await payloads(api, sim, token, 2, delete)
    assert ended.payload["sessionEndedByRole"] == "EndUser"
    assert closed.event == "CONVERSATION_CLOSE_CONVERSATION"
    assert closed.json["conversationId"] == cid


async def test_new_session_emits_waiting(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    await sim.end_session(cid)
    waiting, echo = await payloads(
        api, sim, token, 2, api.send(token, cid, text_body("back", isNewMessagingSession=True))
    )
    assert waiting.payload["sessionStatus"] == "Waiting"
    assert waiting.payload["sessionStatusPrev"] == "Ended"
    assert echo.entry["sender"]["role"] == "EndUser"
