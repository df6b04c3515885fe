"""/v1/handovers: start, read, user messages, typing, presence, files, end, and the SSE event stream."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import orjson
from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp_sse import EventSourceResponse, sse_response

from handover_miaw.api.app_keys import API_DOC, HANDOVERS, METRICS, SETTINGS, SUBSCRIBERS
from handover_miaw.api.paging import fetch_page, next_link
from handover_miaw.api.requests import BodyReads, admit_body, json_body
from handover_miaw.api.responses import json_response
from handover_miaw.api.upload_fields import checked_filename, text_part
from handover_miaw.api.views import handover_view
from handover_miaw.digits import ascii_digits
from handover_miaw.errors import (
    MalformedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    TooManyRequestsError,
    UnsupportedMediaTypeError,
)
from handover_miaw.handovers.calls import for_handover
from handover_miaw.handovers.start import StartRequest
from handover_miaw.store.records import HandoverState
from handover_miaw.timestamps import iso_utc

__all__ = ["ACCEPTED_FILE_TYPES", "MULTIPART_OVERHEAD_BYTES", "routes"]

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


# Room for the multipart framing and the small `text` and `id` parts around a file of the largest size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _id(request: web.Request) -> str:
    handover_id = request.match_info["id"]
    if not _HANDOVER_ID.fullmatch(handover_id):
        raise NotFoundError(f"handover {handover_id!r} does not exist")
    return handover_id


@routes.post("/v1/handovers")
async def start_handover(request: web.Request) -> web.Response:
    """Start a handover (or return the live one of this session)."""
    started = time.perf_counter()
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
    record, created = await request.app[HANDOVERS].start(start)
    response = json_response(handover_view(record), status=201 if created else 200)
    if created:
        request.app[METRICS].start_seconds.observe(time.perf_counter() - started)
    return response


@routes.get("/v1/handovers")
async def list_handovers(request: web.Request) -> web.Response:
    """Handovers, newest first, a page at a time, optionally in one state."""
    state = request.query.get("state")
    if state is not None and state not in {s.value for s in HandoverState}:
        raise MalformedRequestError(f"unknown state {state!r}", pointer="/state")
    handovers = request.app[HANDOVERS]
    page = await fetch_page(request, lambda limit, after: handovers.page(state, limit, after))
    return json_response({"handovers": [handover_view(r) for r in page.items], "next": next_link(request, page)})


@routes.get("/v1/handovers/{id}")
async def get_handover(request: web.Request) -> web.Response:
    """One handover."""
    return json_response(handover_view(await request.app[HANDOVERS].get(_id(request))))


@routes.delete("/v1/handovers/{id}")
async def end_handover(request: web.Request) -> web.Response:
    """The user ends the handover."""
    handover_id = _id(request)
    with for_handover(handover_id):
        return json_response(handover_view(await request.app[HANDOVERS].end(handover_id)))


@routes.get("/v1/handovers/{id}/calls")
async def list_calls(request: web.Request) -> web.Response:
    """The handover's recent MIAW calls made by this process (endpoint, outcome, duration, time)."""
    calls = [
        {"endpoint": c.endpoint, "outcome": c.outcome, "durationMs": round(c.seconds * 1000, 3), "at": iso_utc(c.at)}
        for c in await request.app[HANDOVERS].calls(_id(request))
    ]
    return json_response({"calls": calls})


@routes.post("/v1/handovers/{id}/messages")
async def send_message(request: web.Request) -> web.Response:
    """A user message, sent once per caller id."""
    started = time.perf_counter()
    handover_id = _id(request)
    body = await json_body(request, "sendMessage")
    with for_handover(handover_id):
        miaw_id, sent = await request.app[HANDOVERS].send_message(handover_id, body["id"], body["text"])
    response = json_response({"id": body["id"], "miawMessageId": miaw_id, "state": "sent"}, status=202 if sent else 200)
    if sent:
        request.app[METRICS].relay_seconds.observe(time.perf_counter() - started)
    return response


@routes.post("/v1/handovers/{id}/typing")
async def send_typing(request: web.Request) -> web.Response:
    """Typing on or off."""
    handover_id = _id(request)
    body = await json_body(request, "sendTyping")
    with for_handover(handover_id):
        await request.app[HANDOVERS].send_typing(handover_id, body["typing"])
    return web.Response(status=204)


@routes.post("/v1/handovers/{id}/presence")
async def set_presence(request: web.Request) -> web.Response:
    """The user connected or disconnected."""
    handover_id = _id(request)
    body = await json_body(request, "setPresence")
    with for_handover(handover_id):
        notified = await request.app[HANDOVERS].set_presence(handover_id, body["status"] == "connected")
    return json_response({"notified": notified}, status=202)


@routes.post("/v1/handovers/{id}/identity")
async def refresh_identity(request: web.Request) -> web.Response:
    """A fresh identity token for an authenticated user: the handover goes on with a new access token."""
    handover_id = _id(request)
    body = await json_body(request, "refreshIdentity")
    with for_handover(handover_id):
        record = await request.app[HANDOVERS].refresh_identity(handover_id, body["identityToken"])
    return json_response(handover_view(record))


@routes.post("/v1/handovers/{id}/files")
async def send_file(request: web.Request) -> web.Response:
    """A file from the user (multipart: `file`, optional `text` and `id`)."""
    handover_id = _id(request)
    await request.app[HANDOVERS].get(handover_id)
    limit = request.app[SETTINGS].max_file_bytes
    if not request.content_type.startswith("multipart/"):
        raise MalformedRequestError("files are sent as multipart/form-data with a `file` part")
    await admit_body(request, limit + MULTIPART_OVERHEAD_BYTES)
    try:
        upload = await _read_upload(await request.multipart(), limit, BodyReads(request))
    except (ValueError, KeyError, HttpProcessingError, web.RequestPayloadError) as exc:
        # aiohttp's multipart reader raises these for a missing boundary, a body that does not start with
        # it, or broken part headers; its messages quote the body, so they are not passed on.
        raise MalformedRequestError(
            "the body is not readable multipart/form-data: a boundary parameter, and parts delimited by it, "
            "are expected"
        ) from exc
    text_parts = {"text": upload.text, "id": upload.client_id}
    request.app[API_DOC].validate("sendFile", {name: value for name, value in text_parts.items() if value is not None})
    with for_handover(handover_id):
        miaw_id, sent = await request.app[HANDOVERS].send_file(
            handover_id, upload.data, upload.filename, upload.content_type, upload.text, upload.client_id
        )
    return json_response(
        {"id": upload.client_id or miaw_id, "miawMessageId": miaw_id, "state": "sent"}, status=202 if sent else 200
    )


@dataclass
class _Upload:
    data: bytes = b""
    filename: str = "file"
    content_type: str = "application/octet-stream"
    text: str | None = None
    client_id: str | None = None


async def _read_upload(reader: MultipartReader, limit: int, reads: BodyReads) -> _Upload:
    upload = _Upload()
    found = False
    # Every part counts against one budget, so many small parts (or unknown ones) cannot add up past it.
    budget = _Budget(limit + MULTIPART_OVERHEAD_BYTES)
    while (part := await reads(reader.next())) is not None:
        if not isinstance(part, BodyPartReader):
            raise MalformedRequestError("nested multipart bodies are not accepted")
        name = part.name
        if name == "file":
            upload.filename = checked_filename(part.filename) if part.filename else upload.filename
            upload.content_type = part.headers.get("Content-Type", upload.content_type).split(";")[0].strip().lower()
            if upload.content_type not in ACCEPTED_FILE_TYPES:
                raise UnsupportedMediaTypeError(
                    f"files of type {upload.content_type[:100]!r} are not accepted", pointer="/file"
                )
            upload.data, found = await _read_limited(part, limit, budget, reads), True
        else:
            value = await _read_limited(part, 4096, budget, reads)
            if name == "text":
                upload.text = text_part("text", value)
            elif name == "id":
                upload.client_id = text_part("id", value)
    if not found:
        raise MalformedRequestError("the `file` part is missing", pointer="/file")
    return upload


@dataclass
class _Budget:
    left: int


async def _read_limited(part: BodyPartReader, limit: int, budget: _Budget, reads: BodyReads) -> bytes:
    chunks: list[bytes] = []
    size = 0
    name = (part.name or "")[:100]
    while chunk := await reads(part.read_chunk(65536)):
        size += len(chunk)
        budget.left -= len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the `{name}` part is over {limit} bytes", pointer=f"/{name}")
        if budget.left < 0:
            raise PayloadTooLargeError("the multipart body is larger than a file of the largest size needs")
        chunks.append(chunk)
    return b"".join(chunks)


@routes.get("/v1/handovers/{id}/events")
async def stream_events(request: web.Request) -> web.StreamResponse:
    """The handover's deliveries as SSE, replayable from Last-Event-ID (the delivery sequence number)."""
    handover_id = _id(request)
    handovers = request.app[HANDOVERS]
    await handovers.get(handover_id)
    last = request.headers.get("Last-Event-ID", "0")
    if not ascii_digits(last, 18):
        raise MalformedRequestError(
            "Last-Event-ID must be a delivery sequence number: 1 to 18 ASCII digits (0-9)", pointer="/Last-Event-ID"
        )
    cursor = int(last)
    subscribers, limit = request.app[SUBSCRIBERS], request.app[SETTINGS].max_event_subscribers
    if not subscribers.enter(handover_id, limit):
        raise TooManyRequestsError(f"this handover's events already have {limit} readers; close one first")
    try:
        async with handovers.wake_on_events(handover_id) as wake, sse_response(request) as stream:
            subscribers.watch(wake)
            try:
                await _send_events(request, stream, handover_id, cursor, wake)
            finally:
                subscribers.unwatch(wake)
            return stream
    finally:
        subscribers.leave(handover_id)


async def _send_events(
    request: web.Request, stream: EventSourceResponse, handover_id: str, cursor: int, wake: asyncio.Event
) -> None:
    """Send the handover's deliveries as they are stored, until it has ended and all were sent, the reader
    has gone, or the application stops."""
    handovers, subscribers = request.app[HANDOVERS], request.app[SUBSCRIBERS]
    while not subscribers.closing:
        wake.clear()
        deliveries, more = await handovers.events_after(handover_id, cursor)
        for delivery in deliveries:
            await stream.send(orjson.dumps(delivery.payload).decode(), id=str(delivery.seq), event=delivery.type)
            cursor = delivery.seq
            if delivery.type == "handover.ended":
                return
        if not more:
            return
        if not deliveries and not await _wait_while_connected(request, wake, 15.0):
            return


async def _wait_while_connected(request: web.Request, wake: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for new deliveries; False as soon as the reader has gone.

    aiohttp does not cancel a handler whose client left (and a delivery from another process wakes no
    one here), so the connection is looked at every second: a reader that left frees its place among
    `max_event_subscribers` within about a second instead of holding it until the next delivery.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if request.transport is None or request.transport.is_closing():
            return False
        try:
            async with asyncio.timeout(min(1.0, left)):
                await wake.wait()
        except TimeoutError:
            continue
        return True
    return True
