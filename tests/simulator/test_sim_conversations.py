"""Conversation lifecycle over REST: create, routing status, list, end session (417), close (403)."""

from __future__ import annotations

from typing import Any

import pytest

from handover_miaw.simulator import Simulator

from .simhelpers import API, DEPLOYMENT, Api, new_id, text_body


async def routing_status(api: Api, token: str, conversation_id: str) -> str:
    resp = await api.client.get(f"{API}/conversation/{conversation_id}", headers=api.auth(token))
    assert resp.status == 200
    status: str = (await resp.json())["routingStatus"]
    return status


async def test_create_answers_201_with_empty_body_and_status_initial(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = new_id()
    body = {
        "conversationId": conversation_id,
        "esDeveloperName": DEPLOYMENT,
        "routingAttributes": {"_firstName": "Ann", "Bot_Summary": "refund"},
        "language": "en_US",
    }
    resp = await api.client.post(f"{API}/conversation", json=body, headers=api.auth(token))
    assert resp.status == 201
    assert await resp.read() == b""
    assert await routing_status(api, token, conversation_id) == "INITIAL"
    assert sim.conversation(conversation_id).routing_attributes == {"_firstName": "Ann", "Bot_Summary": "refund"}


@pytest.mark.parametrize(
    "change",
    [
        {"conversationId": "3F0C2A8E-7B1D-4C55-9A10-2D6F8E1B4C07"},  # uppercase
        {"conversationId": "3f0c2a8e-7b1d-1c55-9a10-2d6f8e1b4c07"},  # version 1
        {"conversationId": "3f0c2a8e-7b1d-4c55-7a10-2d6f8e1b4c07"},  # bad variant nibble
        {"conversationId": "not-a-uuid"},
        {"esDeveloperName": "Other_Deployment"},
        {"routingAttributes": {"nested": {"no": 1}}},
        {"extra": 1},
    ],
)
async def test_create_rejects_bad_bodies(api: Api, change: dict[str, Any]) -> None:
    token = await api.token()
    body = {"conversationId": new_id(), "esDeveloperName": DEPLOYMENT, **change}
    resp = await api.client.post(f"{API}/conversation", json=body, headers=api.auth(token))
    assert resp.status == 400
    error = await resp.json()
    assert set(error) == {"message", "code"}


async def test_create_needs_a_token(api: Api) -> None:
    body = {"conversationId": new_id(), "esDeveloperName": DEPLOYMENT}
    assert (await api.client.post(f"{API}/conversation", json=body)).status == 401


async def test_uuid_error_message_matches_miaw(api: Api) -> None:
    token = await api.token()
    body = {"conversationId": "ABC", "esDeveloperName": DEPLOYMENT}
    resp = await api.client.post(f"{API}/conversation", json=body, headers=api.auth(token))
    assert (await resp.json())["message"] == "Specify the conversationId in UUID format."


async def test_recreate_is_idempotent_for_owner_and_409_for_others(api: Api, sim: Simulator) -> None:
    owner, other = await api.token(), await api.token()
    conversation_id = await api.create(owner)
    await api.create(owner, conversation_id)
    assert len(sim.store.conversations) == 1
    body = {"conversationId": conversation_id, "esDeveloperName": DEPLOYMENT}
    assert (await api.client.post(f"{API}/conversation", json=body, headers=api.auth(other))).status == 409


async def test_unknown_foreign_and_malformed_conversation_ids(api: Api) -> None:
    owner, other = await api.token(), await api.token()
    conversation_id = await api.create(owner)
    assert (await api.client.get(f"{API}/conversation/{new_id()}", headers=api.auth(owner))).status == 404
    assert (await api.client.get(f"{API}/conversation/{conversation_id}", headers=api.auth(other))).status == 404
    assert (await api.client.get(f"{API}/conversation/NOPE", headers=api.auth(owner))).status == 400
    assert (await api.send(other, conversation_id, text_body("hi"))).status == 404


async def test_routing_status_follows_agent_actions(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.route(conversation_id)
    assert await routing_status(api, token, conversation_id) == "NEEDS_ROUTING"
    await sim.accept(conversation_id, "Maria")
    assert await routing_status(api, token, conversation_id) == "ROUTED"
    await sim.transfer(conversation_id, "Bob")
    assert await routing_status(api, token, conversation_id) == "TRANSFER"
    await sim.accept(conversation_id)
    assert await routing_status(api, token, conversation_id) == "ROUTED"
    assert sim.conversation(conversation_id).agent == "Bob"


async def test_list_conversations(api: Api, sim: Simulator) -> None:
    token, other = await api.token(), await api.token()
    first = await api.create(token)
    second = await api.create(token)
    await api.create(other)
    await sim.close(first)
    path = f"{API}/conversation/list"
    data = await (await api.client.get(path, headers=api.auth(token))).json()
    assert data["openConversationsFound"] == 1
    assert data["closedConversationsFound"] == 1
    assert [c["conversationId"] for c in data["conversations"]] == [second]
    every = await (await api.client.get(path, params={"inclClosedConvs": "true"}, headers=api.auth(token))).json()
    assert [c["conversationId"] for c in every["conversations"]] == [first, second]
    assert every["conversations"][0]["endTimestamp"] is not None
    assert (await api.client.get(path, params={"limit": "51"}, headers=api.auth(token))).status == 400


async def test_end_session_then_417_then_new_session(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    query = {"esDeveloperName": DEPLOYMENT}
    resp = await api.client.delete(
        f"{API}/conversation/{conversation_id}/session", params=query, headers=api.auth(token)
    )
    assert resp.status == 204
    body = text_body("still there?")
    refused = await api.send(token, conversation_id, body)
    assert refused.status == 417
    assert (await refused.json())["code"] == "NO_ACTIVE_SESSION"
    assert sim.conversation(conversation_id).end_user_messages == []
    body["isNewMessagingSession"] = True
    body["routingAttributes"] = {"Bot_Summary": "again"}
    accepted = await api.send(token, conversation_id, body)
    assert accepted.status == 202
    conversation = sim.conversation(conversation_id)
    assert conversation.session_status == "Waiting"
    assert conversation.sessions == 2
    assert conversation.routing_attributes == {"Bot_Summary": "again"}
    assert [m.text for m in conversation.end_user_messages] == ["still there?"]


async def test_agent_end_session_also_gives_417(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.accept(conversation_id)
    await sim.end_session(conversation_id)
    assert (await api.send(token, conversation_id, text_body("hello?"))).status == 417


async def test_delete_needs_the_deployment_name(api: Api) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    path = f"{API}/conversation/{conversation_id}"
    assert (await api.client.delete(path, headers=api.auth(token))).status == 400
    assert (await api.client.delete(f"{path}/session", headers=api.auth(token))).status == 400


async def test_close_answers_204_and_later_writes_403(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    path = f"{API}/conversation/{conversation_id}"
    query = {"esDeveloperName": DEPLOYMENT}
    assert (await api.client.delete(path, params=query, headers=api.auth(token))).status == 204
    assert sim.conversation(conversation_id).closed
    resp = await api.send(token, conversation_id, text_body("hello?"))
    assert resp.status == 403
    assert (await resp.json())["code"] == "CONVERSATION_CLOSED"
    assert (await api.client.delete(path, params=query, headers=api.auth(token))).status == 403
    assert (await api.client.delete(f"{path}/session", params=query, headers=api.auth(token))).status == 403
    typing = {"entryType": "TypingStartedIndicator", "id": new_id()}
    assert (await api.client.post(f"{path}/entry", json=typing, headers=api.auth(token))).status == 403


async def test_agent_side_close_gives_403(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await sim.close(conversation_id)
    assert (await api.send(token, conversation_id, text_body("hi"))).status == 403


async def test_transcript_is_a_pdf(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await api.say(token, conversation_id, "hello (there)")
    resp = await api.client.get(
        f"{API}/conversation/{conversation_id}/transcript",
        params={"esDeveloperName": DEPLOYMENT},
        headers=api.auth(token),
    )
    assert resp.status == 200
    assert resp.content_type == "application/pdf"
    body = await resp.read()
    assert body.startswith(b"%PDF-")
    assert b"hello \\(there\\)" in body
