"""The ``/_sim`` control API: agent actions, state read-back, the call log and fault injection over HTTP.

Every route maps onto one :class:`Simulator` method so HTTP and Python callers get the same behaviour.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .faults import ENDPOINTS
from .httputil import json_response, read_control_json, simulator
from .validation import array, boolean, integer, number, obj, string, validate

__all__ = ["CONTROL_PREFIX", "routes"]

CONTROL_PREFIX = "/_sim"

_OK = {"ok": True}
_ROUTE = obj({}, {"queuePosition": integer(0), "estimatedWaitSeconds": integer(0)})
_POSITION = obj({"position": integer(0)})
_FAILURE = obj({}, {"failureType": string(), "reason": string()})
_AGENT = obj({}, {"agent": string()})
_TEXT = obj({"text": string()}, {"agent": string()})
_CHOICES = obj({"text": string(), "options": array(string(), min_items=1)}, {"agent": string()})
_TYPING = obj({"on": boolean()}, {"agent": string()})
_FILE = obj({"name": string(), "mimeType": string(), "url": string()}, {"agent": string()})
_TRANSFER = obj({"to": string()})
_EMPTY = obj({})
_DROP = obj({}, {"everyNEvents": integer(1)})
_HTTP_FAULT = obj({"endpoint": string(), "status": integer(400)}, {"count": integer(1), "retryAfter": integer(0)})
_LATENCY = obj({"endpoint": string(), "seconds": number()})
_DUPLICATE = obj({"count": integer(0)})
_HEARTBEAT = obj({"stopped": boolean()})


async def _body(request: web.Request, check: Any) -> dict[str, Any]:
    """The JSON body checked against ``check``; an empty body counts as ``{}``. 415 unless sent as JSON."""
    body: dict[str, Any] = await read_control_json(request) or {}
    validate(body, check)
    return body


def _cid(request: web.Request) -> str:
    return request.match_info["conversationId"]


async def list_conversations(request: web.Request) -> web.Response:
    """Every conversation with its state."""
    sim = simulator(request)
    return json_response({"conversations": [c.as_json() for c in sim.store.conversations.values()]})


async def get_conversation(request: web.Request) -> web.Response:
    """One conversation, including every end-user message received, in order."""
    return json_response(simulator(request).conversation(_cid(request)).as_json())


async def status(request: web.Request) -> web.Response:
    """Counters a test can wait on: open streams, last event id, conversations."""
    sim = simulator(request)
    return json_response(
        {
            "openStreams": sim.hub.open_streams,
            "lastEventId": str(sim.hub.last_event_id),
            "conversations": len(sim.store.conversations),
        }
    )


async def route(request: web.Request) -> web.Response:
    """Queue the conversation for routing."""
    body = await _body(request, _ROUTE)
    await simulator(request).route(_cid(request), body.get("queuePosition", 1), body.get("estimatedWaitSeconds", 60))
    return json_response(_OK)


async def queue_position(request: web.Request) -> web.Response:
    """Announce a new queue position."""
    body = await _body(request, _POSITION)
    await simulator(request).queue_position(_cid(request), body["position"])
    return json_response(_OK)


async def route_failure(request: web.Request) -> web.Response:
    """Fail routing."""
    body = await _body(request, _FAILURE)
    await simulator(request).fail_routing(_cid(request), body.get("failureType", "RoutingError"), body.get("reason"))
    return json_response(_OK)


async def accept(request: web.Request) -> web.Response:
    """An agent accepts the work."""
    body = await _body(request, _AGENT)
    await simulator(request).accept(_cid(request), body.get("agent"))
    return json_response(_OK)


async def message(request: web.Request) -> web.Response:
    """The agent writes text; answers the entry id."""
    body = await _body(request, _TEXT)
    entry_id = await simulator(request).send_text(_cid(request), body["text"], body.get("agent"))
    return json_response({"id": entry_id})


async def choices(request: web.Request) -> web.Response:
    """The agent offers buttons; answers the entry id."""
    body = await _body(request, _CHOICES)
    sim = simulator(request)
    entry_id = await sim.send_choices(_cid(request), body["text"], body["options"], body.get("agent"))
    return json_response({"id": entry_id})


async def typing(request: web.Request) -> web.Response:
    """The agent starts or stops typing."""
    body = await _body(request, _TYPING)
    await simulator(request).typing(_cid(request), body["on"], body.get("agent"))
    return json_response(_OK)


async def send_file(request: web.Request) -> web.Response:
    """The agent shares a file by URL; answers the entry id."""
    body = await _body(request, _FILE)
    entry_id = await simulator(request).send_file(
        _cid(request), body["name"], body["mimeType"], body["url"], body.get("agent")
    )
    return json_response({"id": entry_id})


async def transfer(request: web.Request) -> web.Response:
    """Transfer to another agent (who joins on a later accept)."""
    body = await _body(request, _TRANSFER)
    await simulator(request).transfer(_cid(request), body["to"])
    return json_response(_OK)


async def leave(request: web.Request) -> web.Response:
    """The agent leaves."""
    await _body(request, _EMPTY)
    await simulator(request).leave(_cid(request))
    return json_response(_OK)


async def end(request: web.Request) -> web.Response:
    """The agent ends the messaging session."""
    await _body(request, _EMPTY)
    await simulator(request).end_session(_cid(request))
    return json_response(_OK)


async def close(request: web.Request) -> web.Response:
    """Close the conversation server-side."""
    await _body(request, _EMPTY)
    await simulator(request).close(_cid(request))
    return json_response(_OK)


async def calls(request: web.Request) -> web.Response:
    """The REST call log, oldest first."""
    return json_response({"calls": [c.as_json() for c in simulator(request).calls]})


async def clear_calls(request: web.Request) -> web.Response:
    """Empty the call log."""
    simulator(request).calls.clear()
    return json_response(_OK)


async def drop_streams(request: web.Request) -> web.Response:
    """Drop every open stream now (``everyNEvents`` null) or after every N events."""
    body = await _body(request, _DROP)
    simulator(request).drop_streams(body.get("everyNEvents"))
    return json_response(_OK)


async def http_fault(request: web.Request) -> web.Response:
    """Fail the next calls of an endpoint."""
    body = await _body(request, _HTTP_FAULT)
    simulator(request).fail_next(body["endpoint"], body["status"], body.get("count", 1), body.get("retryAfter"))
    return json_response(_OK)


async def latency(request: web.Request) -> web.Response:
    """Slow an endpoint down."""
    body = await _body(request, _LATENCY)
    simulator(request).add_latency(body["endpoint"], float(body["seconds"]))
    return json_response(_OK)


async def expire_tokens(request: web.Request) -> web.Response:
    """Expire every token issued so far."""
    await _body(request, _EMPTY)
    simulator(request).expire_tokens()
    return json_response(_OK)


async def duplicate(request: web.Request) -> web.Response:
    """Emit the next N events twice."""
    body = await _body(request, _DUPLICATE)
    simulator(request).duplicate_next_events(body["count"])
    return json_response(_OK)


async def heartbeat(request: web.Request) -> web.Response:
    """Stop or restart the pings."""
    body = await _body(request, _HEARTBEAT)
    simulator(request).stop_heartbeat(body["stopped"])
    return json_response(_OK)


async def reset_faults(request: web.Request) -> web.Response:
    """Remove every fault."""
    simulator(request).reset_faults()
    return json_response(_OK)


async def endpoints(request: web.Request) -> web.Response:
    """The endpoint names faults accept."""
    return json_response({"endpoints": sorted(ENDPOINTS)})


async def file_content(request: web.Request) -> web.Response:
    """A file the end user uploaded."""
    stored = simulator(request).files.get(request.match_info["fileId"])
    if stored is None:
        raise web.HTTPNotFound
    return web.Response(body=stored.data, content_type=stored.mime_type)


def routes() -> list[web.RouteDef]:
    """All control routes; their names start with ``sim_`` so faults and the call log skip them."""
    conv = f"{CONTROL_PREFIX}/conversations/{{conversationId}}"
    faults = f"{CONTROL_PREFIX}/faults"
    return [
        web.get(f"{CONTROL_PREFIX}/conversations", list_conversations, name="sim_conversations"),
        web.get(conv, get_conversation, name="sim_conversation"),
        web.get(f"{CONTROL_PREFIX}/status", status, name="sim_status"),
        web.post(f"{conv}/route", route, name="sim_route"),
        web.post(f"{conv}/queue-position", queue_position, name="sim_queue_position"),
        web.post(f"{conv}/route-failure", route_failure, name="sim_route_failure"),
        web.post(f"{conv}/accept", accept, name="sim_accept"),
        web.post(f"{conv}/messages", message, name="sim_messages"),
        web.post(f"{conv}/choices", choices, name="sim_choices"),
        web.post(f"{conv}/typing", typing, name="sim_typing"),
        web.post(f"{conv}/files", send_file, name="sim_files"),
        web.post(f"{conv}/transfer", transfer, name="sim_transfer"),
        web.post(f"{conv}/leave", leave, name="sim_leave"),
        web.post(f"{conv}/end", end, name="sim_end"),
        web.post(f"{conv}/close", close, name="sim_close"),
        web.get(f"{CONTROL_PREFIX}/calls", calls, name="sim_calls"),
        web.delete(f"{CONTROL_PREFIX}/calls", clear_calls, name="sim_clear_calls"),
        web.get(f"{CONTROL_PREFIX}/endpoints", endpoints, name="sim_endpoints"),
        web.get(f"{CONTROL_PREFIX}/files/{{fileId}}", file_content, name="sim_file"),
        web.post(f"{faults}/drop-streams", drop_streams, name="sim_fault_drop"),
        web.post(f"{faults}/http", http_fault, name="sim_fault_http"),
        web.post(f"{faults}/latency", latency, name="sim_fault_latency"),
        web.post(f"{faults}/expire-tokens", expire_tokens, name="sim_fault_expire"),
        web.post(f"{faults}/duplicate", duplicate, name="sim_fault_duplicate"),
        web.post(f"{faults}/heartbeat", heartbeat, name="sim_fault_heartbeat"),
        web.delete(faults, reset_faults, name="sim_faults_reset"),
    ]
