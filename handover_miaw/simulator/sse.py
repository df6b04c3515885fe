"""``GET /eventrouter/v1/sse``: one event stream per token subject (miaw-api.md §4).

Written on a bare :class:`aiohttp.web.StreamResponse` because the frames are pre-rendered bytes (the
duplicate-event fault must resend the very same frame) and the stream must obey fault switches between
frames; aiohttp-sse would add nothing but a second queue.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .events import PING_FRAME
from .httputil import authorize, simulator
from .simulator import Simulator
from .state import SimulatorError
from .tokens import TokenError
from .validation import bad_request

__all__ = ["SSE_PATH", "event_stream", "routes"]

SSE_PATH = "/eventrouter/v1/sse"


def _last_event_id(request: web.Request, required: bool) -> int | None:
    """The client's cursor; None (stream from now) when it sent none and the switch allows that."""
    raw = request.headers.get("Last-Event-Id")
    if raw is None:
        if required:
            raise bad_request("Last-Event-Id header is required.", "MISSING_HEADER")
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request("Last-Event-Id must be an event id.") from exc


def _token_alive(sim: Simulator, request: web.Request) -> bool:
    token = request.headers["Authorization"].partition(" ")[2].strip()
    try:
        sim.tokens.verify(token)
    except TokenError:
        return False
    return True


async def event_stream(request: web.Request) -> web.StreamResponse:
    """Replay what the client missed (if enabled), then stream live events and pings until dropped."""
    sim = simulator(request)
    claims = authorize(request)
    org_id = request.headers.get("X-Org-Id")
    if org_id is None:
        raise bad_request("X-Org-Id header is required.", "MISSING_HEADER")
    if org_id[:15] != claims.org_id[:15]:
        raise SimulatorError(400, "ORG_MISMATCH", "OrgId in the header and token must match")
    last_event_id = _last_event_id(request, sim.config.require_last_event_id)
    after = last_event_id if sim.config.replay_on_reconnect else None
    subscription, backlog = sim.hub.subscribe(claims.subject, after)
    # Queue the backlog before any await so live events published meanwhile land behind it.
    for event in backlog:
        subscription.queue.put_nowait(event)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        sim.record_call("sse", request.method, request.path, response.status)
        while True:
            try:
                # wait_for's timer only when the queue is empty: a busy stream must not pay it per event.
                item = subscription.queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    item = await asyncio.wait_for(subscription.queue.get(), sim.config.ping_interval_s)
                except TimeoutError:
                    if not _token_alive(sim, request):
                        break
                    if not sim.faults.heartbeat_stopped:
                        await response.write(PING_FRAME)
                    continue
            if item is None or not _token_alive(sim, request):
                break
            await response.write(item.payload)
            subscription.delivered += 1
            every = sim.faults.drop_every_n_events
            if every is not None and subscription.delivered % every == 0:
                break
    except ConnectionResetError:
        # The client went away; nothing to tell it.
        pass
    finally:
        sim.hub.unsubscribe(subscription)
    return response


def routes() -> list[web.RouteDef]:
    """The event-router route."""
    return [web.get(SSE_PATH, event_stream, name="sse", allow_head=False)]
