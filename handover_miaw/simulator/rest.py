"""MIAW REST routes for tokens, conversations and deployment configuration (miaw-api.md §1, §2, §5).

Message-level routes live in :mod:`messages`. Each route is named after its endpoint in the contract,
which is how the middleware finds faults and logs calls.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
from aiohttp import web

from . import events
from .deployment import business_hours, embedded_service_config, transcript_pdf
from .httputil import authorize, json_response, path_conversation_id, read_json, simulator
from .simulator import Simulator
from .state import Conversation, Sender, SimulatorError
from .validation import bad_request, flat_object, obj, one_of, string, uuid_v4, validate

__all__ = ["API", "check_deployment", "end_user_sender", "routes"]

API = "/iamessage/api/v2"

_TOKEN_FIELDS = {
    "orgId": string(),
    "esDeveloperName": string(),
    "capabilitiesVersion": string(),
    "platform": string(),
}
_TOKEN_OPTIONAL = {"deviceId": string(), "context": flat_object(), "language": string()}
_GUEST_TOKEN = obj(_TOKEN_FIELDS, _TOKEN_OPTIONAL)
_VERIFIED_TOKEN = obj(
    {**_TOKEN_FIELDS, "authorizationType": one_of("JWT"), "customerIdentityToken": string()},
    _TOKEN_OPTIONAL,
)
_CREATE = obj(
    {
        "conversationId": uuid_v4("Specify the conversationId in UUID format."),
        "esDeveloperName": string(),
    },
    {"routingAttributes": flat_object(), "language": string()},
)


def end_user_sender(subject: str) -> Sender:
    """The sender of the end user's own entries."""
    return Sender("EndUser", "iamessage", subject, "Guest")


def check_org(sim: Simulator, org_id: str) -> None:
    """Accept the 15-character org id or its 18-character form."""
    if org_id[:15] != sim.config.org_id[:15] or len(org_id) not in (15, 18):
        raise bad_request(f"Unknown orgId {org_id!r}.", "INVALID_ORG")


def check_deployment(sim: Simulator, name: str | None) -> None:
    """The esDeveloperName must name this deployment."""
    if name is None:
        raise bad_request("esDeveloperName is required.", "MISSING_FIELD")
    if name != sim.config.es_developer_name:
        raise bad_request(f"No Embedded Service deployment named {name!r}.", "INVALID_DEPLOYMENT")
    if not sim.config.published:
        # What MIAW answers before a new deployment is published is not documented; a 400 like an unknown
        # deployment's, whose message says why, is the guess (the doctor names both causes otherwise).
        raise bad_request(f"Embedded Service deployment {name!r} is not published yet.", "DEPLOYMENT_NOT_PUBLISHED")


def _token_response(sim: Simulator, token: str, subject: str) -> dict[str, Any]:
    return {
        "accessToken": token,
        "lastEventId": str(sim.hub.last_event_id),
        "deploymentType": sim.config.deployment_type,
        "context": {
            "endUser": {"subject": subject},
            "configuration": {"embeddedServiceConfig": embedded_service_config(sim.config)},
        },
    }


async def access_token(request: web.Request) -> web.Response:
    """Guest token: a fresh anonymous subject."""
    sim = simulator(request)
    body = await read_json(request)
    validate(body, _GUEST_TOKEN)
    check_org(sim, body["orgId"])
    check_deployment(sim, body["esDeveloperName"])
    subject = f"v2/iamessage/ANON/{uuid.uuid4()}"
    return json_response(_token_response(sim, sim.tokens.mint(subject, sim.config.org_id), subject))


def _identity_subject(identity_token: str) -> str:
    parts = identity_token.split(".")
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError) as exc:
        raise bad_request("customerIdentityToken is not a JWT.") from exc
    if len(parts) != 3 or not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise bad_request("customerIdentityToken is not a JWT with a sub claim.")
    subject: str = claims["sub"]
    return subject


async def authenticated_access_token(request: web.Request) -> web.Response:
    """Verified-user token: the subject derives from the identity token's ``sub`` (not verified)."""
    sim = simulator(request)
    body = await read_json(request)
    validate(body, _VERIFIED_TOKEN)
    check_org(sim, body["orgId"])
    check_deployment(sim, body["esDeveloperName"])
    subject = f"v2/iamessage/AUTH/SimKeyset/uid:{_identity_subject(body['customerIdentityToken'])}"
    return json_response(_token_response(sim, sim.tokens.mint(subject, sim.config.org_id), subject))


async def continuation_token(request: web.Request) -> web.Response:
    """A different token for the same subject, keeping the original expiry."""
    sim = simulator(request)
    claims = authorize(request)
    token = sim.tokens.continuation(claims)
    return json_response({"accessToken": token, "lastEventId": str(sim.hub.last_event_id)})


async def revoke_token(request: web.Request) -> web.Response:
    """Revoke the bearer token."""
    sim = simulator(request)
    sim.tokens.revoke(authorize(request))
    return web.Response(status=204)


async def create_conversation(request: web.Request) -> web.Response:
    """Create a conversation with a client-chosen id; repeating the same create is harmless."""
    sim = simulator(request)
    claims = authorize(request)
    body = await read_json(request)
    validate(body, _CREATE)
    check_deployment(sim, body["esDeveloperName"])
    conversation_id: str = body["conversationId"]
    existing = sim.store.conversations.get(conversation_id)
    if existing is not None:
        if existing.subject != claims.subject:
            raise SimulatorError(409, "CONFLICT", f"Conversation {conversation_id} already exists.")
        return web.Response(status=201)
    conversation = Conversation(
        id=conversation_id,
        subject=claims.subject,
        es_developer_name=body["esDeveloperName"],
        created_ms=sim.store.now_ms(),
        session_id=sim.store.new_record_id("0Mw"),
        routing_attributes=dict(body.get("routingAttributes") or {}),
        language=body.get("language"),
    )
    sim.store.conversations[conversation_id] = conversation
    sim.notify_created(conversation)
    return web.Response(status=201)


async def routing_status(request: web.Request) -> web.Response:
    """``{"routingStatus": ...}`` of one conversation."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = sim.store.owned(path_conversation_id(request), claims.subject)
    return json_response({"routingStatus": conversation.routing_status})


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter, or a 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer.") from exc


def query_limit(request: web.Request) -> int:
    """``limit``: default 20, between 1 and 50."""
    limit = query_int(request, "limit", 20)
    if limit is None or not 1 <= limit <= 50:
        raise bad_request("limit must be between 1 and 50.")
    return limit


async def list_conversations(request: web.Request) -> web.Response:
    """The subject's conversations, oldest first."""
    sim = simulator(request)
    claims = authorize(request)
    include_closed = request.query.get("inclClosedConvs", "false").lower() == "true"
    limit = query_limit(request)
    start = query_int(request, "startTimestamp")
    end = query_int(request, "endTimestamp")
    wanted = request.query.get("conversationId")
    mine = [c for c in sim.store.conversations.values() if c.subject == claims.subject]
    open_count = sum(not c.closed for c in mine)
    selected = [
        c
        for c in mine
        if (include_closed or not c.closed)
        and (wanted is None or c.id == wanted)
        and (start is None or c.created_ms >= start)
        and (end is None or c.created_ms <= end)
    ]
    selected.sort(key=lambda c: c.created_ms)
    return json_response(
        {
            "openConversationsFound": open_count,
            "closedConversationsFound": len(mine) - open_count,
            "conversations": [
                {"conversationId": c.id, "startTimestamp": c.created_ms, "endTimestamp": c.closed_ms}
                for c in selected[:limit]
            ],
        }
    )


async def close_conversation(request: web.Request) -> web.Response:
    """The end user closes the conversation: session Ended, then CONVERSATION_CLOSE_CONVERSATION."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = sim.store.owned(path_conversation_id(request), claims.subject)
    check_deployment(sim, request.query.get("esDeveloperName"))
    sim.store.open_conversation(conversation.id)
    sim.end_session_by(conversation, "EndUser")
    sim.emit(conversation, events.close_conversation(str(uuid.uuid4())), end_user_sender(claims.subject))
    conversation.closed_ms = sim.store.now_ms()
    return web.Response(status=204)


async def end_session(request: web.Request) -> web.Response:
    """The end user ends the messaging session; the conversation stays open."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = sim.store.owned(path_conversation_id(request), claims.subject)
    check_deployment(sim, request.query.get("esDeveloperName"))
    sim.store.open_conversation(conversation.id)
    sim.end_session_by(conversation, "EndUser")
    return web.Response(status=204)


async def transcript(request: web.Request) -> web.Response:
    """The last 200 entries as a PDF."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = sim.store.owned(path_conversation_id(request), claims.subject)
    check_deployment(sim, request.query.get("esDeveloperName"))
    lines = []
    for entry in conversation.entries[-200:]:
        text = entry.payload.get("abstractMessage", {}).get("staticContent", {}).get("text")
        lines.append(f"{entry.sender.display_name}: {text}" if text else f"[{entry.entry_type}]")
    return web.Response(body=transcript_pdf(lines), content_type="application/pdf")


async def deployment_config(request: web.Request) -> web.Response:
    """The embedded-service configuration; 400 for another org or an unknown deployment."""
    sim = simulator(request)
    check_org(sim, request.query.get("orgId", ""))
    check_deployment(sim, request.query.get("esConfigName"))
    return json_response({"embeddedServiceConfig": embedded_service_config(sim.config)})


async def deployment_business_hours(request: web.Request) -> web.Response:
    """Business hours (always open)."""
    sim = simulator(request)
    check_org(sim, request.query.get("orgId", ""))
    check_deployment(sim, request.query.get("esConfigName"))
    return json_response(business_hours(sim.store.now_ms()))


def routes() -> list[web.RouteDef]:
    """The token, conversation and configuration routes, named after their contract endpoints."""
    conv = f"{API}/conversation/{{conversationId}}"
    auth = f"{API}/authorization"
    return [
        web.post(f"{auth}/unauthenticated/access-token", access_token, name="access_token"),
        web.post(f"{auth}/authenticated/access-token", authenticated_access_token, name="authenticated_access_token"),
        web.delete(f"{auth}/authenticated/access-token", revoke_token, name="revoke_token"),
        web.get(f"{auth}/continuation-access-token", continuation_token, name="continuation_token"),
        web.post(f"{API}/conversation", create_conversation, name="create_conversation"),
        # Registered before {conversationId} so "list" is never taken for an id.
        web.get(f"{API}/conversation/list", list_conversations, name="list_conversations"),
        web.get(conv, routing_status, name="routing_status"),
        web.delete(conv, close_conversation, name="close_conversation"),
        web.delete(f"{conv}/session", end_session, name="end_session"),
        web.get(f"{conv}/transcript", transcript, name="transcript"),
        web.get("/embeddedservice/v1/embedded-service-config", deployment_config, name="config"),
        web.get("/embeddedservice/v1/businesshours", deployment_business_hours, name="business_hours"),
    ]
