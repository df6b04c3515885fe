"""A whole handover end to end: start, queue, agent, messages both ways, end — and every node setting."""

from __future__ import annotations

from typing import Any

import pytest

from handover_miaw.simulator import Simulator
from tests.waiting import wait_for

from .conftest import Bot


@pytest.fixture
async def acme(bot: Bot) -> Bot:
    await bot.connector()
    return bot


async def test_whole_handover_over_a_signed_webhook(acme: Bot) -> None:
    bot, sim, rx = acme, acme.sim, acme.receiver
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    assert handover["state"] == "queued"
    await sim.route(cid, queue_position=2, estimated_wait_s=30)
    await wait_for(
        lambda: any(d["data"].get("position") == 2 for d in rx.of_type("handover.status", hid)), "the queue position 2"
    )
    await sim.accept(cid, agent="Maria")
    active = await bot.wait_state(hid, "active")
    assert active["agent"] == {"name": "Maria"}
    entry = await sim.send_text(cid, "Hi Ann, I can help.")
    await wait_for(lambda: len(rx.of_type("agent.message", hid)) == 1, "the agent message")
    (message,) = rx.of_type("agent.message", hid)
    assert message["data"]["text"] == "Hi Ann, I can help."
    assert message["data"]["messageId"] == entry
    assert message["data"]["agent"] == {"name": "Maria"}
    response = await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "c1", "text": "I need a refund"})
    assert response.status == 202
    assert [m.text for m in sim.conversation(cid).end_user_messages] == ["I need a refund"]
    await sim.end_session(cid)
    await bot.wait_state(hid, "ended")
    await wait_for(lambda: len(rx.of_type("handover.ended", hid)) == 1, "the end delivery")
    assert rx.of_type("handover.ended", hid)[0]["data"] == {"status": "completed", "reason": "agent_ended"}
    assert rx.bad_signatures == 0
    assert rx.statuses(hid)[0] == "queue"
    assert "active" in rx.statuses(hid)


async def test_repeated_message_id_is_sent_once(acme: Bot) -> None:
    handover = await acme.start()
    url = f"/v1/handovers/{handover['id']}/messages"
    first = await acme.api.post(url, json={"id": "same", "text": "hello"})
    again = await acme.api.post(url, json={"id": "same", "text": "hello"})
    assert (first.status, again.status) == (202, 200)
    assert (await first.json())["miawMessageId"] == (await again.json())["miawMessageId"]
    assert len(acme.sim.conversation(handover["conversationId"]).end_user_messages) == 1


async def test_message_while_queued_reaches_salesforce(acme: Bot) -> None:
    handover = await acme.start()
    assert handover["state"] == "queued"
    response = await acme.api.post(f"/v1/handovers/{handover['id']}/messages", json={"id": "q", "text": "still there?"})
    assert response.status == 202
    assert [m.text for m in acme.sim.conversation(handover["conversationId"]).end_user_messages] == ["still there?"]


@pytest.mark.parametrize("send", [True, False])
async def test_transcript_as_first_message(acme: Bot, send: bool) -> None:
    transcript = [
        {"source": "user", "text": "Hi", "timestamp": "2026-11-25T10:00:00Z"},
        {"source": "bot", "text": "How can I help?", "timestamp": "2026-11-25T10:00:01Z"},
    ]
    handover = await acme.start(settings={"sendTranscript": send}, transcript=transcript)
    texts = [m.text for m in acme.sim.conversation(handover["conversationId"]).end_user_messages]
    assert texts == (["User: Hi\nBot: How can I help?"] if send else [])


async def test_routing_attributes_language_and_copilot(acme: Bot) -> None:
    await acme.connector(copilotUrlTemplate="https://copilot.example.com/ws?u={userId}&s={sessionId}")
    handover = await acme.start(
        settings={"routingAttributes": {"Brand__c": "acme", "language": "de_DE"}}, language="en_US"
    )
    conversation = acme.sim.conversation(handover["conversationId"])
    assert conversation.language == "de_DE"
    assert conversation.routing_attributes == {
        "Brand__c": "acme",
        "copilotUrl": "https://copilot.example.com/ws?u=u1&s=s1",
    }


async def test_request_language_used_without_attribute(acme: Bot) -> None:
    handover = await acme.start(language="fr_FR")
    assert acme.sim.conversation(handover["conversationId"]).language == "fr_FR"


@pytest.mark.parametrize("use_identity", [True, False])
async def test_identity_token_selects_the_authenticated_token(acme: Bot, use_identity: bool) -> None:
    settings: dict[str, Any] = {"useIdentityToken": use_identity}
    if use_identity:
        settings["identityToken"] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2ln"
    handover = await acme.start(settings=settings)
    endpoints = [c.endpoint for c in acme.sim.calls]
    expected = "authenticated_access_token" if use_identity else "access_token"
    assert expected in endpoints
    assert ("authenticated_access_token" in endpoints) is use_identity
    assert acme.sim.conversation(handover["conversationId"]).subject.startswith(
        "v2/iamessage/AUTH/" if use_identity else "v2/iamessage/ANON/"
    )


@pytest.mark.parametrize(
    ("status", "enabled_key", "enabled"),
    [
        ("connected", "userConnectsMessage", True),
        ("connected", "userConnectsMessage", False),
        ("disconnected", "userDisconnectsMessage", True),
        ("disconnected", "userDisconnectsMessage", False),
    ],
)
async def test_presence_notices_follow_the_node_settings(
    acme: Bot, status: str, enabled_key: str, enabled: bool
) -> None:
    handover = await acme.start(settings={enabled_key: enabled})
    response = await acme.api.post(f"/v1/handovers/{handover['id']}/presence", json={"status": status})
    assert response.status == 202
    assert (await response.json()) == {"notified": enabled}
    texts = [m.text for m in acme.sim.conversation(handover["conversationId"]).end_user_messages]
    expected = (
        "The user is back in the conversation." if status == "connected" else "The user has left the conversation."
    )
    assert texts == ([expected] if enabled else [])


async def test_typing_reaches_salesforce(acme: Bot) -> None:
    handover = await acme.start()
    response = await acme.api.post(f"/v1/handovers/{handover['id']}/typing", json={"typing": True})
    assert response.status == 204
    assert acme.sim.conversation(handover["conversationId"]).end_user_typing is True


async def _active(bot: Bot, **settings: Any) -> tuple[str, str]:
    handover = await bot.start(settings=settings)
    await bot.sim.accept(handover["conversationId"], agent="Maria")
    await bot.wait_state(handover["id"], "active")
    return handover["id"], handover["conversationId"]


@pytest.mark.parametrize("end_on_change", [True, False])
async def test_agent_leave_with_and_without_end_on_participant_change(acme: Bot, end_on_change: bool) -> None:
    hid, cid = await _active(acme, endOnParticipantChange=end_on_change)
    await acme.sim.leave(cid)
    if end_on_change:
        ended = await acme.wait_state(hid, "ended")
        assert (ended["endStatus"], ended["endReason"]) == ("completed", "agent_left")
    else:
        await wait_for(lambda: any(c.endpoint == "routing_status" for c in acme.sim.calls), "routing status read")
        await wait_for(lambda: acme.sim.conversation(cid).agent is None, "the agent to leave")
        assert (await acme.handover(hid))["state"] == "active"


async def test_transfer_requeues_and_does_not_end(acme: Bot) -> None:
    hid, cid = await _active(acme, endOnParticipantChange=True)
    await acme.sim.transfer(cid, "Bob")
    await acme.wait_state(hid, "queued")
    await acme.sim.accept(cid)
    joined = await acme.wait_state(hid, "active")
    assert joined["agent"] == {"name": "Bob"}


async def test_a_transfer_reaches_the_bot_once_naming_the_agent_who_left(acme: Bot) -> None:
    # MIAW tells of it twice (the agent's leave, then a Transfer routing result): the bot heard it twice.
    await acme.connector(forwardEvents=True)
    hid, cid = await _active(acme)
    await acme.sim.transfer(cid, "Bob")
    await acme.wait_state(hid, "queued")
    await acme.sim.accept(cid)
    await acme.wait_state(hid, "active")
    await acme.sim.send_text(cid, "marker")  # delivered after every status of the transfer, in order
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) == 1, "the marker")
    transferred = [d for d in acme.receiver.of_type("handover.status", hid) if d["data"]["status"] == "transferred"]
    assert len(transferred) == 1, transferred
    assert transferred[0]["data"]["agent"] == {"name": "Maria"}


@pytest.mark.parametrize("forward", [True, False])
async def test_forward_events_toggle(acme: Bot, forward: bool) -> None:
    await acme.connector(forwardEvents=forward)
    hid, cid = await _active(acme)
    await acme.sim.typing(cid, True)
    await acme.sim.send_text(cid, "marker")
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) == 1, "the marker")
    assert ("typing_started" in acme.receiver.statuses(hid)) is forward
    assert "active" in acme.receiver.statuses(hid)


async def test_user_end_closes_the_conversation(acme: Bot) -> None:
    hid, cid = await _active(acme)
    response = await acme.api.delete(f"/v1/handovers/{hid}")
    assert response.status == 200
    body = await response.json()
    assert (body["state"], body["endStatus"], body["endReason"]) == ("ended", "cancelled", "user_ended")
    await wait_for(lambda: acme.sim.conversation(cid).closed_ms is not None, "the MIAW close")
    await wait_for(lambda: len(acme.receiver.of_type("handover.ended", hid)) == 1, "the end delivered")


async def test_routing_failure_ends_with_error(acme: Bot) -> None:
    handover = await acme.start()
    await acme.sim.fail_routing(handover["conversationId"], reason="No agents available")
    ended = await acme.wait_state(handover["id"], "ended")
    assert (ended["endStatus"], ended["endReason"]) == ("error", "routing_failed")


async def test_closed_on_salesforce_side_while_user_sends(acme: Bot) -> None:
    hid, cid = await _active(acme)
    await acme.sim.close(cid)
    response = await acme.api.post(f"/v1/handovers/{hid}/messages", json={"id": "late", "text": "hello?"})
    assert response.status == 409
    assert "not delivered" in (await response.json())["error"]["message"]
    assert (await acme.wait_state(hid, "ended"))["endStatus"] in ("completed",)


async def test_second_start_returns_the_live_handover(acme: Bot) -> None:
    first = await acme.start()
    response = await acme.api.post("/v1/handovers", json={"connector": "acme", "sessionId": "s1", "userId": "u1"})
    assert response.status == 200
    assert (await response.json())["id"] == first["id"]
    assert [c.endpoint for c in acme.sim.calls].count("create_conversation") == 1


async def test_duplicate_miaw_events_are_delivered_once(acme: Bot, sim: Simulator) -> None:
    hid, cid = await _active(acme)
    sim.duplicate_next_events(3)
    for text in ("one", "two", "three"):
        await sim.send_text(cid, text)
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) >= 3, "three agent messages")
    await sim.send_text(cid, "marker")
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) >= 4, "the marker")
    assert [d["data"]["text"] for d in acme.receiver.of_type("agent.message", hid)] == ["one", "two", "three", "marker"]


async def test_forward_events_change_applies_to_a_live_handover(acme: Bot) -> None:
    hid, cid = await _active(acme)
    await acme.sim.typing(cid, True)
    await acme.sim.send_text(cid, "first")
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) == 1, "the first message")
    assert "typing_started" not in acme.receiver.statuses(hid)
    await acme.connector(forwardEvents=True)
    await acme.sim.typing(cid, True)
    await acme.sim.send_text(cid, "second")
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) == 2, "the second message")
    assert acme.receiver.statuses(hid).count("typing_started") == 1
