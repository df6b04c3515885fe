"""End-user sends: messages (echo, idempotency, validation), choices answers, files, typing, acks, entries."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import FormData
from yarl import URL

from handover_miaw.simulator import Simulator

from .simhelpers import API, DEPLOYMENT, Api, new_id, text_body


async def test_send_answers_202_with_entry_and_echoes_as_end_user(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    async with api.stream(token) as stream:
        message_id = new_id()
        resp = await api.send(token, conversation_id, text_body("I need a human", message_id))
        assert resp.status == 202
        entries = (await resp.json())["conversationEntries"]
        assert entries[0]["id"] == message_id
        assert isinstance(entries[0]["clientTimestamp"], int)
        echo = await stream.event()
    assert echo.event == "CONVERSATION_MESSAGE"
    assert echo.json["conversationId"] == conversation_id
    assert echo.entry["identifier"] == message_id
    assert echo.entry["sender"]["role"] == "EndUser"
    assert echo.entry["sender"]["subject"] == sim.conversation(conversation_id).subject
    assert echo.entry["senderDisplayName"] == "Guest"
    assert echo.payload["abstractMessage"]["staticContent"] == {"formatType": "Text", "text": "I need a human"}


async def test_resending_a_message_id_is_idempotent(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    async with api.stream(token) as stream:
        message_id = await api.say(token, conversation_id, "once")
        again = await api.send(token, conversation_id, text_body("once", message_id))
        assert again.status == 202
        assert (await again.json())["conversationEntries"][0]["id"] == message_id
        await api.say(token, conversation_id, "twice")
        first, second = await stream.events(2)
    assert [m.id for m in sim.conversation(conversation_id).end_user_messages].count(message_id) == 1
    assert first.entry["identifier"] == message_id
    assert second.payload["abstractMessage"]["staticContent"]["text"] == "twice"


def _mutate(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    target = body
    *parents, last = path.split(".")
    for name in parents:
        target = target[name]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("message.id", "B6D1E0F2-41C9-4E3A-8F57-0C9A2E6D7B11"),
        ("message.id", KeyError),
        ("message.messageType", "FormMessage"),
        ("message.staticContent", KeyError),
        ("message.staticContent.formatType", "RichLink"),
        ("message.staticContent.text", ""),
        ("message.staticContent.extra", 1),
        ("message.references", []),
        ("esDeveloperName", KeyError),
        ("esDeveloperName", "Other"),
        ("isNewMessagingSession", "yes"),
        ("developerName", DEPLOYMENT),
    ],
)
async def test_send_rejects_bad_bodies(api: Api, sim: Simulator, path: str, value: Any) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    resp = await api.send(token, conversation_id, _mutate(text_body("hi"), path, value))
    assert resp.status == 400
    assert (await resp.json())["message"]
    assert sim.conversation(conversation_id).end_user_messages == []


async def test_choices_answer_round_trip(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.accept(conversation_id)
    async with api.stream(token, str(sim.hub.last_event_id)) as stream:
        choices_id = await sim.send_choices(conversation_id, "Pick one", ["Refund", "Exchange"])
        offered = await stream.event()
        items = offered.payload["abstractMessage"]["choices"]["optionItems"]
        answer = {
            "message": {
                "id": new_id(),
                "messageType": "ChoicesResponseMessage",
                "inReplyToMessageId": choices_id,
                "choicesResponse": {
                    "formatType": "Selections",
                    "selectedOptions": [{"optionIdentifier": items[1]["optionIdentifier"]}],
                },
            },
            "esDeveloperName": DEPLOYMENT,
        }
        assert (await api.send(token, conversation_id, answer)).status == 202
        echo = await stream.event()
    assert echo.payload["abstractMessage"]["messageType"] == "ChoicesResponseMessage"
    received = sim.conversation(conversation_id).end_user_messages[0]
    assert received.text == "Exchange"
    assert received.in_reply_to == choices_id
    bogus = _mutate(answer, "message.choicesResponse.selectedOptions", [{"optionIdentifier": "nope"}])
    bogus["message"]["id"] = new_id()
    assert (await api.send(token, conversation_id, bogus)).status == 400


def file_form(data: bytes, mime_type: str, **message: Any) -> FormData:
    form = FormData()
    entry = {"esDeveloperName": DEPLOYMENT, "message": {"id": new_id(), "fileId": new_id(), **message}}
    form.add_field("messageEntry", orjson.dumps(entry).decode(), content_type="application/json")
    form.add_field("fileData", data, filename="receipt.png", content_type=mime_type)
    return form


async def test_send_file_is_echoed_as_attachment_and_served(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    path = f"{API}/conversation/{conversation_id}/file"
    async with api.stream(token) as stream:
        resp = await api.client.post(
            path, data=file_form(b"\x89PNG-bytes", "image/png", text="my receipt"), headers=api.auth(token)
        )
        assert resp.status == 202
        echo = await stream.event()
    content = echo.payload["abstractMessage"]["staticContent"]
    assert content["formatType"] == "Attachments"
    assert content["text"] == "my receipt"
    attachment = content["attachments"][0]
    assert attachment["name"] == "receipt.png"
    assert attachment["mimeType"] == "image/png"
    served = await api.client.get(URL(attachment["url"]).path)
    assert await served.read() == b"\x89PNG-bytes"
    received = sim.conversation(conversation_id).end_user_messages[0]
    assert (received.file_name, received.mime_type) == ("receipt.png", "image/png")


async def test_file_errors(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    path = f"{API}/conversation/{conversation_id}/file"
    too_big = b"x" * (sim.config.max_file_bytes + 1)
    assert (await api.client.post(path, data=file_form(too_big, "image/png"), headers=api.auth(token))).status == 413
    exe = file_form(b"MZ", "application/x-msdownload")
    assert (await api.client.post(path, data=exe, headers=api.auth(token))).status == 415
    plain = await api.client.post(path, json={"message": {}}, headers=api.auth(token))
    assert plain.status == 415
    form = FormData()
    form.add_field("fileData", b"abc", filename="a.txt", content_type="text/plain")
    assert (await api.client.post(path, data=form, headers=api.auth(token))).status == 400
    assert sim.conversation(conversation_id).end_user_messages == []


async def test_typing_entry(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    path = f"{API}/conversation/{conversation_id}/entry"
    started = {"entryType": "TypingStartedIndicator", "id": new_id()}
    assert (await api.client.post(path, json=started, headers=api.auth(token))).status == 200
    assert sim.conversation(conversation_id).end_user_typing is True
    stopped = {"entryType": "TypingStoppedIndicator", "id": new_id()}
    assert (await api.client.post(path, json=stopped, headers=api.auth(token))).status == 200
    assert sim.conversation(conversation_id).end_user_typing is False
    wrong = {"entryType": "Typing", "id": new_id()}
    assert (await api.client.post(path, json=wrong, headers=api.auth(token))).status == 400


async def test_acknowledge_entries(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.accept(conversation_id)
    agent_entry = await sim.send_text(conversation_id, "hello")
    path = f"{API}/conversation/{conversation_id}/acknowledge-entries"
    acks = {"acks": [{"id": new_id(), "entryType": "Read", "conversationEntryId": agent_entry}]}
    assert (await api.client.post(path, json=acks, headers=api.auth(token))).status == 200
    assert sim.conversation(conversation_id).acks[0].conversation_entry_id == agent_entry
    unknown = {"acks": [{"id": new_id(), "entryType": "Read", "conversationEntryId": new_id()}]}
    assert (await api.client.post(path, json=unknown, headers=api.auth(token))).status == 400
    bad_type = {"acks": [{"id": new_id(), "entryType": "Seen", "conversationEntryId": agent_entry}]}
    assert (await api.client.post(path, json=bad_type, headers=api.auth(token))).status == 400


async def list_texts(api: Api, token: str, conversation_id: str, **query: str) -> list[str]:
    resp = await api.entries(token, conversation_id, entryTypeFilter="Message", **query)
    assert resp.status == 200
    entries = (await resp.json())["conversationEntries"]
    return [e["entryPayload"]["abstractMessage"]["staticContent"]["text"] for e in entries]


async def test_list_entries_order_limit_and_filters(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.accept(conversation_id)
    for n in range(25):
        await api.say(token, conversation_id, f"m{n}")
    newest_first = await list_texts(api, token, conversation_id)
    assert newest_first == [f"m{n}" for n in range(24, 4, -1)]
    oldest_first = await list_texts(api, token, conversation_id, direction="FromStart", limit="3")
    assert oldest_first == ["m0", "m1", "m2"]
    assert len(await list_texts(api, token, conversation_id, limit="50")) == 25
    stamps = [m.timestamp for m in sim.conversation(conversation_id).end_user_messages]
    window = await list_texts(
        api, token, conversation_id, direction="FromStart", startTimestamp=str(stamps[3]), endTimestamp=str(stamps[5])
    )
    assert window == ["m3", "m4", "m5"]
    everything = await (await api.entries(token, conversation_id, limit="50", direction="FromStart")).json()
    types = [e["entryType"] for e in everything["conversationEntries"]]
    assert types[:3] == ["RoutingWorkResult", "ParticipantChanged", "SessionStatusChanged"]
    joined = await (await api.entries(token, conversation_id, entryTypeFilter="ParticipantChanged")).json()
    assert [e["entryType"] for e in joined["conversationEntries"]] == ["ParticipantChanged"]


@pytest.mark.parametrize("query", [{"limit": "51"}, {"limit": "0"}, {"limit": "x"}, {"direction": "Up"}])
async def test_list_entries_rejects_bad_queries(api: Api, query: dict[str, str]) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    assert (await api.entries(token, conversation_id, **query)).status == 400


async def test_listed_entry_equals_streamed_entry_with_payload_as_object(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.accept(conversation_id)
    async with api.stream(token, str(sim.hub.last_event_id)) as stream:
        await sim.send_text(conversation_id, "hello from Maria")
        streamed = (await stream.event()).entry
    listed = (await (await api.entries(token, conversation_id, limit="1")).json())["conversationEntries"][0]
    assert isinstance(streamed["entryPayload"], str)
    assert isinstance(listed["entryPayload"], dict)
    assert listed.pop("entryPayload") == orjson.loads(streamed.pop("entryPayload"))
    assert {k: v for k, v in listed.items() if k in streamed} == streamed
    assert "serverReceivedTimestamp" in listed


async def test_typing_indicators_are_not_listed(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.accept(conversation_id)
    await sim.typing(conversation_id, True)
    resp = await api.entries(token, conversation_id, entryTypeFilter="TypingStartedIndicator")
    assert (await resp.json())["conversationEntries"] == []
