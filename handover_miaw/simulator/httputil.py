"""Helpers shared by the simulator's HTTP handlers: app key, JSON in and out, bearer auth."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .simulator import Simulator
from .state import SimulatorError
from .tokens import Claims, TokenError
from .validation import bad_request, is_uuid_v4

__all__ = [
    "SIMULATOR_KEY",
    "authorize",
    "error_response",
    "json_response",
    "path_conversation_id",
    "read_control_json",
    "read_json",
    "simulator",
]

SIMULATOR_KEY: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)


def simulator(request: web.Request) -> Simulator:
    """The simulator behind the app serving ``request``."""
    return request.app[SIMULATOR_KEY]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A response with an orjson-encoded body."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The error body every failing call carries: ``{"message", "code"}``."""
    return json_response({"message": message, "code": code}, status, headers)


async def read_json(request: web.Request) -> Any:
    """The request body parsed as JSON, or a 400."""
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}") from exc


async def read_control_json(request: web.Request) -> Any:
    """A control route's JSON body, None when empty; 415 unless sent as application/json.

    As /v1: a page on another site can POST text/plain or a form without a CORS preflight, never JSON, so
    the demo's simulator controls (reachable from any page a browser opens) are out of its reach. Browsers
    send Origin with every POST, so a page must name the type even for no body; scripts and tests send no
    Origin and may leave an empty body untyped.
    """
    raw = await request.read()
    if (raw or "Origin" in request.headers) and request.content_type != "application/json":
        sent = request.headers.get("Content-Type", "")[:100]
        raise SimulatorError(415, "UNSUPPORTED_MEDIA_TYPE", f"Send the body as application/json (got {sent!r}).")
    return await read_json(request) if raw else None


def authorize(request: web.Request) -> Claims:
    """The claims of the request's bearer token, or a 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SimulatorError(401, "UNAUTHORIZED", "Missing bearer token.")
    try:
        return simulator(request).tokens.verify(token.strip())
    except TokenError as exc:
        raise SimulatorError(401, "UNAUTHORIZED", str(exc)) from exc


def path_conversation_id(request: web.Request) -> str:
    """The ``{conversationId}`` path segment, which must be a lowercase v4 UUID (else 400)."""
    conversation_id = request.match_info["conversationId"]
    if not is_uuid_v4(conversation_id):
        raise bad_request("Specify the conversationId in UUID format.")
    return conversation_id
