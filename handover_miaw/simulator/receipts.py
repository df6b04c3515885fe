"""``/_sim`` routes for the agent's side to acknowledge end-user messages: delivery and read receipts.

Each emits what MIAW sends the end user when the agent's console received or displayed a message
(``CONVERSATION_DELIVERY_ACKNOWLEDGEMENT`` / ``CONVERSATION_READ_ACKNOWLEDGEMENT``, miaw-api.md §4.3). The
end user's own receipts (``acknowledge-entries``) are kept on the conversation (``acks`` in
``GET /_sim/conversations/{id}``).
"""

from __future__ import annotations

from aiohttp import web

from .control import CONTROL_PREFIX
from .httputil import json_response, read_control_json, simulator
from .validation import obj, string, validate

__all__ = ["routes"]

_RECEIPT = obj({}, {"messageId": string(), "agent": string()})


async def _acknowledge(request: web.Request, read: bool) -> web.Response:
    # An empty body means "the latest message", as the other control routes accept no body.
    body = await read_control_json(request) or {}
    validate(body, _RECEIPT)
    sim = simulator(request)
    conversation_id = request.match_info["conversationId"]
    entry_id = await sim.acknowledge(conversation_id, read, body.get("messageId"), body.get("agent"))
    return json_response({"id": entry_id})


async def delivered(request: web.Request) -> web.Response:
    """The agent's console received an end-user message (the latest unless ``messageId`` names one)."""
    return await _acknowledge(request, read=False)


async def read(request: web.Request) -> web.Response:
    """The agent read an end-user message (the latest unless ``messageId`` names one)."""
    return await _acknowledge(request, read=True)


def routes() -> list[web.RouteDef]:
    """The receipt routes (named ``sim_*`` so faults and the call log skip them)."""
    conv = f"{CONTROL_PREFIX}/conversations/{{conversationId}}"
    return [
        web.post(f"{conv}/delivered", delivered, name="sim_delivered"),
        web.post(f"{conv}/read", read, name="sim_read"),
    ]
