"""Reading request bodies: size-limited, parsed, validated against the API document before any effect."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from handover_miaw.api.keys import API_DOC, SETTINGS
from handover_miaw.errors import MalformedRequestError, PayloadTooLargeError

__all__ = ["json_body"]


async def json_body(request: web.Request, operation_id: str) -> Any:
    """The request's JSON body, checked against the operation's schema."""
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the request body is over {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLargeError(f"the request body is over {limit} bytes")
    if not raw:
        raise MalformedRequestError("the request body is empty; a JSON object is expected")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"the request body is not valid JSON: {exc}") from exc
    # Schema messages never quote a write-only (secret) field's value, and of any other at most a prefix.
    request.app[API_DOC].validate(operation_id, body)
    return body
