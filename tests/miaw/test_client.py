"""MiawClient against the simulator over real loopback HTTP: every endpoint, happy and error paths."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import pytest

from handover_miaw.miaw import (
    AccessToken,
    MessageEvent,
    MiawAuthError,
    MiawBadRequestError,
    MiawClient,
    MiawForbiddenError,
    MiawNoSessionError,
    MiawNotFoundError,
    MiawPayloadTooLargeError,
    MiawRateLimitedError,
    MiawServerError,
    MiawTimeoutError,
    MiawTokenExpiredError,
    MiawUnsupportedMediaTypeError,
    RetryPolicy,
    RoutingResultEvent,
)
from handover_miaw.simulator import Simulator

from .conftest import DEPLOYMENT, ORG_ID
from .helpers import FakeClock
from .test_jwt import make_jwt

UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def calls(sim: Simulator, endpoint: str) -> list[int]:
    """Statuses the simulator answered to `endpoint`, in order."""
    return [c.status for c in sim.calls if c.endpoint == endpoint]


async def test_guest_token(client: MiawClient, clock: FakeClock) -> None:
    token = await client.unauthenticated_access_token()
    assert token.subject is not None
    assert "/ANON/" in token.subject
    assert token.authenticated is False
    assert token.expires_at == pytest.approx(clock.now + 3600, abs=1)
    assert token.last_event_id is not None
    assert token.deployment_type == "api"
    assert token.config is not None


async def test_verified_user_token(client: MiawClient) -> None:
    token = await client.authenticated_access_token(make_jwt({"sub": "ann@example.com", "exp": 2_000_000_000}))
    assert token.authenticated is True
    assert token.subject is not None
    assert token.subject.endswith("uid:ann@example.com")


async def test_verified_user_token_refused(client: MiawClient) -> None:
    with pytest.raises(MiawBadRequestError):
        await client.authenticated_access_token("not-a-jwt")


async def test_wrong_deployment_is_a_bad_request(base_url: str) -> None:
    async with MiawClient(base_url, ORG_ID, "Nope") as other:
        with pytest.raises(MiawBadRequestError) as info:
            await other.unauthenticated_access_token()
    assert info.value.status == 400


async def test_continuation_token(client: MiawClient, token: AccessToken) -> None:
    renewed = await client.continuation_token(token)
    assert renewed.token != token.token
    assert renewed.subject == token.subject
    assert renewed.expires_at == token.expires_at


async def test_revoke(client: MiawClient, sim: Simulator) -> None:
    token = await client.authenticated_access_token(make_jwt({"sub": "ann"}))
    await client.revoke_token(token)
    with pytest.raises(MiawAuthError) as info:
        await client.continuation_token(token)
    assert not isinstance(info.value, MiawTokenExpiredError)
    assert calls(sim, "revoke_token") == [204]


async def test_create_conversation(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token, routing_attributes={"_firstName": "Ann"}, language="en_US")
    assert UUID_V4.match(cid)
    conversation = sim.conversation(cid)
    assert conversation.routing_attributes == {"_firstName": "Ann"}
    assert conversation.language == "en_US"
    assert (await client.routing_status(token, cid)).status == "INITIAL"
    # Creating the same id again is harmless (and is what a retry does).
    assert await client.create_conversation(token, cid) == cid


async def test_create_conversation_rejects_uppercase_id(client: MiawClient, token: AccessToken) -> None:
    with pytest.raises(MiawBadRequestError):
        await client.create_conversation(token, str(uuid.uuid4()).upper())


async def test_unknown_conversation(client: MiawClient, token: AccessToken) -> None:
    with pytest.raises(MiawNotFoundError) as info:
        await client.routing_status(token, str(uuid.uuid4()))
    assert info.value.code == "miaw.not_found"


async def test_routing_status_follows_the_agent(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    await sim.route(cid)
    await sim.accept(cid, "Maria")
    status = await client.routing_status(token, cid)
    assert status.routed


async def test_send_message(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    sent = await client.send_message(token, cid, "I need help")
    assert UUID_V4.match(sent.message_id)
    assert sent.new_session is False
    assert sent.client_timestamp is not None
    again = await client.send_message(token, cid, "I need help", message_id=sent.message_id)
    assert again.message_id == sent.message_id
    received = sim.conversation(cid).end_user_messages
    assert [(m.id, m.text) for m in received] == [(sent.message_id, "I need help")]


async def test_417_resends_same_id_opening_a_session(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    await client.end_session(token, cid)
    sent = await client.send_message(
        token, cid, "Back again", routing_attributes={"Bot_Summary": "refund"}, language="en_US"
    )
    assert sent.new_session is True
    conversation = sim.conversation(cid)
    assert [m.id for m in conversation.end_user_messages] == [sent.message_id]
    assert conversation.sessions == 2
    assert calls(sim, "send_message") == [417, 202]


async def test_417_when_opening_a_session_is_raised(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    sim.fail_next("send_message", 417)
    with pytest.raises(MiawNoSessionError):
        await client.send_message(token, cid, "again", new_session=True, routing_attributes={"a": "b"})
    assert calls(sim, "send_message") == [417]


async def test_typing(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    await client.send_typing(token, cid, True)
    assert sim.conversation(cid).end_user_typing is True
    await client.send_typing(token, cid, False)
    assert sim.conversation(cid).end_user_typing is False


async def test_acknowledge_entries(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    await sim.route(cid)
    await sim.accept(cid)
    entry_id = await sim.send_text(cid, "hello")
    await client.acknowledge_entries(token, cid, [entry_id], "Delivery")
    await client.acknowledge_entries(token, cid, [entry_id], "Read")
    acks = sim.conversation(cid).acks
    assert [(a.entry_type, a.conversation_entry_id) for a in acks] == [("Delivery", entry_id), ("Read", entry_id)]


async def test_send_file(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    sent = await client.send_file(token, cid, b"%PDF-1.4 tiny", "label.pdf", "application/pdf", text="my label")
    assert sent.file_id is not None
    [message] = sim.conversation(cid).end_user_messages
    assert (message.id, message.file_name, message.mime_type, message.file_id) == (
        sent.message_id,
        "label.pdf",
        "application/pdf",
        sent.file_id,
    )
    assert sim.files[sent.file_id].data == b"%PDF-1.4 tiny"


@pytest.mark.parametrize("name", ["label.pdf\r\nContent-Type: text/html", "tab\there.pdf", "del\x7f.pdf"])
async def test_a_file_name_with_a_control_character_is_refused_before_any_call(
    client: MiawClient, token: AccessToken, sim: Simulator, name: str
) -> None:
    # The name goes unquoted (as browsers send it): a CR LF in it started a header of its own in the part.
    cid = await client.create_conversation(token)
    calls = len(sim.calls)
    with pytest.raises(ValueError, match="control character"):
        await client.send_file(token, cid, b"%PDF-1.4 tiny", name, "application/pdf")
    assert len(sim.calls) == calls
    assert sim.conversation(cid).end_user_messages == []


async def test_send_file_too_large_or_wrong_type(client: MiawClient, token: AccessToken) -> None:
    cid = await client.create_conversation(token)
    with pytest.raises(MiawPayloadTooLargeError):
        await client.send_file(token, cid, b"x" * 2048, "big.txt", "text/plain")
    with pytest.raises(MiawUnsupportedMediaTypeError):
        await client.send_file(token, cid, b"MZ", "tool.exe", "application/x-msdownload")


async def test_list_entries(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    await sim.route(cid, queue_position=2, estimated_wait_s=30)
    await sim.accept(cid, "Maria")
    first = await sim.send_text(cid, "one")
    second = await sim.send_text(cid, "two")
    newest = await client.list_entries(token, cid, limit=2)
    assert [e.entry_id for e in newest.events] == [second, first]
    assert all(isinstance(e, MessageEvent) and e.sender_name == "Maria" for e in newest.events)
    oldest = await client.list_entries(token, cid, direction="FromStart", entry_types=["RoutingResult"])
    [routing] = oldest.events
    assert isinstance(routing, RoutingResultEvent)
    assert routing.estimated_wait_s == 30
    assert routing.conversation_id == cid


async def test_close_conversation(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    await client.close_conversation(token, cid)
    assert sim.conversation(cid).closed
    with pytest.raises(MiawForbiddenError):
        await client.send_message(token, cid, "hello?")


async def test_embedded_service_config(client: MiawClient) -> None:
    config = await client.embedded_service_config(language="en_US")
    assert config.name == DEPLOYMENT
    assert config.pre_chat_fields


async def test_expired_token_is_told_apart(client: MiawClient, token: AccessToken, clock: FakeClock) -> None:
    cid = await client.create_conversation(token)
    assert token.expires_at is not None
    clock.now = token.expires_at + 1
    with pytest.raises(MiawTokenExpiredError) as info:
        await client.routing_status(token, cid)
    assert token.token not in str(info.value)
    assert token.token not in repr(info.value.args)


async def test_rejected_token_before_exp_is_a_plain_auth_error(
    client: MiawClient, token: AccessToken, sim: Simulator
) -> None:
    cid = await client.create_conversation(token)
    sim.expire_tokens()
    with pytest.raises(MiawAuthError) as info:
        await client.routing_status(token, cid)
    assert type(info.value) is MiawAuthError
    assert calls(sim, "routing_status") == [401]


@pytest.mark.parametrize("status", [429, 503])
async def test_send_retried_without_duplicates(
    client: MiawClient, token: AccessToken, sim: Simulator, status: int
) -> None:
    cid = await client.create_conversation(token)
    sim.fail_next("send_message", status, count=2, retry_after=1 if status == 429 else None)
    sent = await client.send_message(token, cid, "once")
    assert calls(sim, "send_message") == [status, status, 202]
    assert [m.id for m in sim.conversation(cid).end_user_messages] == [sent.message_id]


async def test_every_idempotent_call_is_retried(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    for endpoint in ("access_token", "create_conversation", "routing_status", "send_entry", "list_entries"):
        sim.fail_next(endpoint, 503)
    await client.unauthenticated_access_token()
    cid = await client.create_conversation(token)
    await client.routing_status(token, cid)
    await client.send_typing(token, cid, True)
    await client.list_entries(token, cid)
    for endpoint in ("access_token", "create_conversation", "routing_status", "send_entry", "list_entries"):
        assert calls(sim, endpoint)[-2:] == [503, 200 if endpoint != "create_conversation" else 201]


async def test_retries_are_bounded(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    sim.fail_next("continuation_token", 429, count=10, retry_after=1)
    with pytest.raises(MiawRateLimitedError) as info:
        await client.continuation_token(token)
    assert info.value.retry_after == 1.0
    assert calls(sim, "continuation_token") == [429] * 4


async def test_4xx_is_never_retried(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    cid = await client.create_conversation(token)
    sim.fail_next("send_message", 400, count=3)
    with pytest.raises(MiawBadRequestError):
        await client.send_message(token, cid, "x")
    assert calls(sim, "send_message") == [400]


async def test_server_error_after_retries(client: MiawClient, token: AccessToken, sim: Simulator) -> None:
    sim.fail_next("routing_status", 500, count=4)
    with pytest.raises(MiawServerError) as info:
        await client.routing_status(token, str(uuid.uuid4()))
    assert info.value.status == 500
    assert calls(sim, "routing_status") == [500] * 4


async def test_timeout(base_url: str, sim: Simulator, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
    async with MiawClient(base_url, ORG_ID, DEPLOYMENT, request_timeout=0.1, retry_policy=policy, clock=clock) as c:
        sim.add_latency("access_token", 1.0)
        with pytest.raises(MiawTimeoutError) as info:
            await c.unauthenticated_access_token()
    assert isinstance(info.value, TimeoutError)
    assert info.value.code == "miaw.timeout"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c, t, cid: c.send_message(t, cid, "x"), id="send_message"),
        pytest.param(lambda c, t, cid: c.send_typing(t, cid, True), id="typing"),
        pytest.param(lambda c, t, cid: c.acknowledge_entries(t, cid, ["e"], "Read"), id="acknowledge"),
        pytest.param(lambda c, t, cid: c.send_file(t, cid, b"x", "a.txt", "text/plain"), id="file"),
        pytest.param(lambda c, t, cid: c.list_entries(t, cid), id="list_entries"),
        pytest.param(lambda c, t, cid: c.end_session(t, cid), id="end_session"),
        pytest.param(lambda c, t, cid: c.close_conversation(t, cid), id="close"),
    ],
)
async def test_unknown_conversation_everywhere(
    client: MiawClient, token: AccessToken, call: Callable[[MiawClient, AccessToken, str], Awaitable[object]]
) -> None:
    with pytest.raises(MiawNotFoundError):
        await call(client, token, str(uuid.uuid4()))


@pytest.mark.parametrize(
    "conversation_id", ["3f2a0c1e-9b7d-4c2e-8a1f-0d9e8c7b6a5f", "a/b", "ü?#", "~._-", "x y%20", "", "abc\n"]
)
def test_a_conversation_path_quotes_as_quote_does(conversation_id: str) -> None:
    from urllib.parse import quote

    from handover_miaw.miaw.client import _conversation_path

    assert _conversation_path(conversation_id) == f"/iamessage/api/v2/conversation/{quote(conversation_id, safe='')}"
