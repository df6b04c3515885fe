"""MIAW REST routes for what the end user sends and reads back (miaw-api.md §2.6, §3)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from . import events
from .httputil import authorize, json_response, path_conversation_id, read_json, simulator
from .rest import API, check_deployment, end_user_sender, query_int, query_limit
from .simulator import Simulator, StoredFile
from .state import Ack, Conversation, EndUserMessage, Entry, SimulatorError
from .tokens import Claims
from .validation import array, bad_request, boolean, flat_object, obj, one_of, string, uuid_v4, validate

__all__ = ["routes"]

_MESSAGE = obj(
    {"id": uuid_v4(), "messageType": one_of("StaticContentMessage", "ChoicesResponseMessage")},
    {
        "staticContent": obj({"formatType": one_of("Text"), "text": string()}),
        "choicesResponse": obj(
            {
                "formatType": one_of("Selections"),
                "selectedOptions": array(obj({"optionIdentifier": string()}), min_items=1),
            }
        ),
        "inReplyToMessageId": string(),
    },
)
_SESSION_FIELDS = {"isNewMessagingSession": boolean(), "routingAttributes": flat_object(), "language": string()}
_SEND = obj({"message": _MESSAGE, "esDeveloperName": string()}, _SESSION_FIELDS)
_FILE_ENTRY = obj(
    {
        "esDeveloperName": string(),
        "message": obj({"id": uuid_v4(), "fileId": uuid_v4()}, {"text": string(allow_empty=True)}),
    },
    {"language": string()},
)
_TYPING = obj({"entryType": one_of("TypingStartedIndicator", "TypingStoppedIndicator"), "id": uuid_v4()})
_ACKS = obj(
    {
        "acks": array(
            obj({"id": uuid_v4(), "entryType": one_of("Delivery", "Read"), "conversationEntryId": string()}),
            min_items=1,
        )
    }
)


def _writable(sim: Simulator, request: web.Request, claims: Claims) -> Conversation:
    conversation = sim.store.owned(path_conversation_id(request), claims.subject)
    return sim.store.open_conversation(conversation.id)


def _accepted(entry: Entry) -> web.Response:
    body = {"conversationEntries": [{"id": entry.identifier, "clientTimestamp": entry.client_timestamp}]}
    return json_response(body, 202)


def _ensure_session(sim: Simulator, conversation: Conversation, body: dict[str, Any]) -> None:
    """417 when the session ended, unless the client asks for a new one."""
    if conversation.session_status != "Ended":
        return
    if not body.get("isNewMessagingSession"):
        raise SimulatorError(
            417,
            "NO_ACTIVE_SESSION",
            "No active messaging session; resend with isNewMessagingSession set to true.",
        )
    conversation.routing_attributes = dict(body.get("routingAttributes") or conversation.routing_attributes)
    conversation.language = body.get("language") or conversation.language
    sim.start_new_session(conversation)


def _choice_titles(conversation: Conversation, in_reply_to: str | None, selected: list[str]) -> list[str]:
    """Titles of the chosen options; the answer must refer to a ChoicesMessage of this conversation."""
    original = conversation.entry(in_reply_to) if in_reply_to else None
    if original is None or original.payload.get("abstractMessage", {}).get("messageType") != "ChoicesMessage":
        raise bad_request("inReplyToMessageId must name a ChoicesMessage of this conversation.")
    items = original.payload["abstractMessage"]["choices"]["optionItems"]
    titles = {item["optionIdentifier"]: item["titleItem"]["title"] for item in items}
    unknown = [ident for ident in selected if ident not in titles]
    if unknown:
        raise bad_request(f"Unknown optionIdentifier(s): {', '.join(unknown)}.")
    return [titles[ident] for ident in selected]


async def send_message(request: web.Request) -> web.Response:
    """The end user's message: stored once per id, echoed on SSE with sender role EndUser."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = _writable(sim, request, claims)
    body = await read_json(request)
    validate(body, _SEND)
    check_deployment(sim, body["esDeveloperName"])
    message = body["message"]
    existing = conversation.entry(message["id"])
    if existing is not None:
        return _accepted(existing)
    in_reply_to = message.get("inReplyToMessageId")
    if message["messageType"] == "StaticContentMessage":
        if "staticContent" not in message or "choicesResponse" in message:
            raise bad_request("$.message.staticContent is required for a StaticContentMessage.")
        text: str = message["staticContent"]["text"]
        payload = events.text_message(message["id"], text, in_reply_to)
        received = EndUserMessage(message["id"], "StaticContentMessage", text, 0, in_reply_to)
    else:
        if "choicesResponse" not in message or "staticContent" in message:
            raise bad_request("$.message.choicesResponse is required for a ChoicesResponseMessage.")
        selected = [o["optionIdentifier"] for o in message["choicesResponse"]["selectedOptions"]]
        titles = _choice_titles(conversation, in_reply_to, selected)
        payload = events.choices_response_message(message["id"], in_reply_to, selected)
        received = EndUserMessage(message["id"], "ChoicesResponseMessage", ", ".join(titles), 0, in_reply_to, selected)
    _ensure_session(sim, conversation, body)
    entry = sim.emit(conversation, payload, end_user_sender(claims.subject))
    received.timestamp = entry.transcripted_timestamp
    conversation.end_user_messages.append(received)
    sim.notify_message(conversation, received)
    return _accepted(entry)


async def _read_file_parts(sim: Simulator, request: web.Request) -> tuple[dict[str, Any], StoredFile]:
    if not request.content_type.startswith("multipart/"):
        raise SimulatorError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the file as multipart/form-data.")
    entry: dict[str, Any] | None = None
    stored: StoredFile | None = None
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise bad_request("Nested multipart bodies are not supported.")
        if part.name == "messageEntry":
            try:
                entry = orjson.loads(await part.read())
            except orjson.JSONDecodeError as exc:
                raise bad_request(f"messageEntry is not valid JSON: {exc}") from exc
        elif part.name == "fileData":
            data = bytearray()
            while chunk := await part.read_chunk():
                data += chunk
                if len(data) > sim.config.max_file_bytes:
                    raise SimulatorError(
                        413, "FILE_TOO_LARGE", f"Files are limited to {sim.config.max_file_bytes} bytes."
                    )
            mime_type = part.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
            if mime_type not in sim.config.allowed_mime_types:
                raise SimulatorError(415, "UNSUPPORTED_MEDIA_TYPE", f"File type {mime_type} is not allowed.")
            stored = StoredFile(part.filename or "file", mime_type, bytes(data))
        else:
            raise bad_request(f"Unexpected multipart part {part.name!r}.")
    if entry is None or stored is None:
        raise bad_request("Both messageEntry and fileData parts are required.")
    return entry, stored


async def send_file(request: web.Request) -> web.Response:
    """The end user uploads a file: echoed as an Attachments message."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = _writable(sim, request, claims)
    entry_body, stored = await _read_file_parts(sim, request)
    validate(entry_body, _FILE_ENTRY)
    check_deployment(sim, entry_body["esDeveloperName"])
    message = entry_body["message"]
    existing = conversation.entry(message["id"])
    if existing is not None:
        return _accepted(existing)
    _ensure_session(sim, conversation, entry_body)
    file_id: str = message["fileId"]
    sim.files[file_id] = stored
    url = str(request.url.with_path(f"/_sim/files/{file_id}").with_query(None))
    caption = message.get("text") or None
    payload = events.attachment_message(message["id"], file_id, stored.name, stored.mime_type, url, caption)
    entry = sim.emit(conversation, payload, end_user_sender(claims.subject))
    received = EndUserMessage(
        message["id"],
        "StaticContentMessage",
        caption,
        entry.transcripted_timestamp,
        file_name=stored.name,
        mime_type=stored.mime_type,
        file_id=file_id,
    )
    conversation.end_user_messages.append(received)
    sim.notify_message(conversation, received)
    return _accepted(entry)


async def send_entry(request: web.Request) -> web.Response:
    """The end user's typing indicator (recorded for the agent side, not echoed)."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = _writable(sim, request, claims)
    body = await read_json(request)
    validate(body, _TYPING)
    conversation.end_user_typing = body["entryType"] == "TypingStartedIndicator"
    return json_response({})


async def acknowledge(request: web.Request) -> web.Response:
    """Delivery/read receipts for entries of this conversation."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = _writable(sim, request, claims)
    body = await read_json(request)
    validate(body, _ACKS)
    for ack in body["acks"]:
        if conversation.entry(ack["conversationEntryId"]) is None:
            raise bad_request(f"Unknown conversationEntryId {ack['conversationEntryId']!r}.")
    conversation.acks.extend(Ack(a["id"], a["entryType"], a["conversationEntryId"]) for a in body["acks"])
    return json_response({})


async def list_entries(request: web.Request) -> web.Response:
    """The transcript with ``entryPayload`` as an object; newest first unless ``direction=FromStart``."""
    sim = simulator(request)
    claims = authorize(request)
    conversation = sim.store.owned(path_conversation_id(request), claims.subject)
    limit = query_limit(request)
    direction = request.query.get("direction", "FromEnd")
    if direction not in ("FromStart", "FromEnd"):
        raise bad_request("direction must be FromStart or FromEnd.")
    start = query_int(request, "startTimestamp")
    end = query_int(request, "endTimestamp")
    type_filter = {t.strip() for t in request.query.get("entryTypeFilter", "").split(",") if t.strip()}
    selected = [
        e
        for e in conversation.entries
        if (start is None or e.transcripted_timestamp >= start)
        and (end is None or e.transcripted_timestamp <= end)
        and (not type_filter or e.entry_type in type_filter)
    ]
    if direction == "FromEnd":
        selected.reverse()
    return json_response({"conversationEntries": [events.listed_entry(e) for e in selected[:limit]]})


def routes() -> list[web.RouteDef]:
    """The message-level routes, named after their contract endpoints."""
    conv = f"{API}/conversation/{{conversationId}}"
    return [
        web.post(f"{conv}/message", send_message, name="send_message"),
        web.post(f"{conv}/file", send_file, name="send_file"),
        web.post(f"{conv}/entry", send_entry, name="send_entry"),
        web.post(f"{conv}/acknowledge-entries", acknowledge, name="acknowledge"),
        web.get(f"{conv}/entries", list_entries, name="list_entries"),
    ]
