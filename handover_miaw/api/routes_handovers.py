"""/v1/handovers: start, read, user messages, typing, presence, files, end, and the SSE event stream."""

from __future__ import annotations

import asyncio
import re

import orjson
from aiohttp import BodyPartReader, web
from aiohttp_sse import sse_response

from handover_miaw.api.keys import SERVICE, SETTINGS, SIGNAL, STARTER, STORE, USER
from handover_miaw.api.paging import fetch_page, next_link
from handover_miaw.api.requests import json_body
from handover_miaw.api.responses import json_response
from handover_miaw.api.views import handover_view
from handover_miaw.errors import (
    MalformedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from handover_miaw.handovers.start import StartRequest
from handover_miaw.store.records import HandoverState

__all__ = ["ACCEPTED_FILE_TYPES", "routes"]

routes = web.RouteTableDef()

_HANDOVER_ID = re.compile(r"ho_[0-9a-f]{32}")
# The attachment types Salesforce messaging channels accept by default; anything else is refused here
# with a 415 before it reaches MIAW.
ACCEPTED_FILE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)


def _id(request: web.Request) -> str:
    handover_id = request.match_info["id"]
    if not _HANDOVER_ID.fullmatch(handover_id):
        raise NotFoundError(f"handover {handover_id!r} does not exist")
    return handover_id


@routes.post("/v1/handovers")
async def start_handover(request: web.Request) -> web.Response:
    """Start a handover (or return the live one of this session)."""
    body = await json_body(request, "startHandover")
    start = StartRequest(
        connector=body["connector"],
        session_id=body["sessionId"],
        user_id=body["userId"],
        settings=body.get("settings", {}),
        transcript=body.get("transcript", []),
        language=body.get("language"),
        context=body.get("context", {}),
    )
    record, created = await request.app[STARTER].start(start)
    return json_response(handover_view(record), status=201 if created else 200)


@routes.get("/v1/handovers")
async def list_handovers(request: web.Request) -> web.Response:
    """Handovers, newest first, a page at a time, optionally in one state."""
    state = request.query.get("state")
    if state is not None and state not in {s.value for s in HandoverState}:
        raise MalformedRequestError(f"unknown state {state!r}", pointer="/state")
    store = request.app[STORE]
    page = await fetch_page(request, lambda limit, after: store.handovers_page(state, limit, after))
    return json_response({"handovers": [handover_view(r) for r in page.items], "next": next_link(request, page)})


@routes.get("/v1/handovers/{id}")
async def get_handover(request: web.Request) -> web.Response:
    """One handover."""
    return json_response(handover_view(await request.app[SERVICE].get(_id(request))))


@routes.delete("/v1/handovers/{id}")
async def end_handover(request: web.Request) -> web.Response:
    """The user ends the handover."""
    return json_response(handover_view(await request.app[USER].end(_id(request))))


@routes.post("/v1/handovers/{id}/messages")
async def send_message(request: web.Request) -> web.Response:
    """A user message, sent once per caller id."""
    handover_id = _id(request)
    body = await json_body(request, "sendMessage")
    miaw_id, sent = await request.app[USER].send_message(handover_id, body["id"], body["text"])
    return json_response({"id": body["id"], "miawMessageId": miaw_id, "state": "sent"}, status=202 if sent else 200)


@routes.post("/v1/handovers/{id}/typing")
async def send_typing(request: web.Request) -> web.Response:
    """Typing on or off."""
    handover_id = _id(request)
    body = await json_body(request, "sendTyping")
    await request.app[USER].send_typing(handover_id, body["typing"])
    return web.Response(status=204)


@routes.post("/v1/handovers/{id}/presence")
async def set_presence(request: web.Request) -> web.Response:
    """The user connected or disconnected."""
    handover_id = _id(request)
    body = await json_body(request, "setPresence")
    notified = await request.app[USER].set_presence(handover_id, body["status"] == "connected")
    return json_response({"notified": notified}, status=202)


@routes.post("/v1/handovers/{id}/identity")
async def refresh_identity(request: web.Request) -> web.Response:
    """A fresh identity token for an authenticated user: the handover goes on with a new access token."""
    handover_id = _id(request)
    body = await json_body(request, "refreshIdentity")
    record = await request.app[USER].refresh_identity(handover_id, body["identityToken"])
    return json_response(handover_view(record))


@routes.post("/v1/handovers/{id}/files")
async def send_file(request: web.Request) -> web.Response:
    """A file from the user (multipart: `file`, optional `text` and `id`)."""
    handover_id = _id(request)
    await request.app[SERVICE].get(handover_id)
    limit = request.app[SETTINGS].max_file_bytes
    if not request.content_type.startswith("multipart/"):
        raise MalformedRequestError("files are sent as multipart/form-data with a `file` part")
    reader = await request.multipart()
    data: bytes | None = None
    filename, content_type, text, client_id = "file", "application/octet-stream", None, None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise MalformedRequestError("nested multipart bodies are not accepted")
        name = part.name
        if name == "file":
            filename = part.filename or filename
            content_type = part.headers.get("Content-Type", content_type).split(";")[0].strip().lower()
            if content_type not in ACCEPTED_FILE_TYPES:
                raise UnsupportedMediaTypeError(f"files of type {content_type!r} are not accepted", pointer="/file")
            data = await _read_limited(part, limit)
        elif name in ("text", "id"):
            value = (await _read_limited(part, 4096)).decode("utf-8", "replace")
            text, client_id = (value, client_id) if name == "text" else (text, value)
    if data is None:
        raise MalformedRequestError("the `file` part is missing", pointer="/file")
    miaw_id, sent = await request.app[USER].send_file(handover_id, data, filename, content_type, text, client_id)
    return json_response(
        {"id": client_id or miaw_id, "miawMessageId": miaw_id, "state": "sent"}, status=202 if sent else 200
    )


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(65536):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the file is over {limit} bytes", pointer="/file")
        chunks.append(chunk)
    return b"".join(chunks)


@routes.get("/v1/handovers/{id}/events")
async def stream_events(request: web.Request) -> web.StreamResponse:
    """The handover's deliveries as SSE, replayable from Last-Event-ID (the delivery sequence number)."""
    handover_id = _id(request)
    service, store, signal = request.app[SERVICE], request.app[STORE], request.app[SIGNAL]
    await service.get(handover_id)
    last = request.headers.get("Last-Event-ID", "0")
    if not last.isdigit() or len(last) > 18:
        raise MalformedRequestError("Last-Event-ID must be a delivery sequence number", pointer="/Last-Event-ID")
    cursor = int(last)
    wake = signal.listen(handover_id)
    try:
        async with sse_response(request) as stream:
            while True:
                wake.clear()
                for delivery in await store.deliveries_after(handover_id, cursor):
                    await stream.send(
                        orjson.dumps(delivery.payload).decode(), id=str(delivery.seq), event=delivery.type
                    )
                    cursor = delivery.seq
                    if delivery.type == "handover.ended":
                        return stream
                record = await store.get_handover(handover_id)
                if record is None or not record.is_live:
                    if not await store.deliveries_after(handover_id, cursor):
                        return stream
                    continue
                try:
                    async with asyncio.timeout(15):
                        await wake.wait()
                except TimeoutError:
                    continue
    finally:
        signal.unlisten(handover_id, wake)
