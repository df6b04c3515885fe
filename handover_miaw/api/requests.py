"""Reading request bodies: size-limited, parsed, validated against the API document before any effect."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from handover_miaw.api.keys import API_DOC, SETTINGS
from handover_miaw.errors import MalformedRequestError, PayloadTooLargeError, SchemaViolationError
from handover_miaw.logs import REDACTED, secrets

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
    try:
        request.app[API_DOC].validate(operation_id, body)
    except SchemaViolationError as exc:
        # A schema message may quote the offending value ("'whsec_x' is too short"): never a secret's.
        hidden = sorted(_secret_values(body), key=len, reverse=True)
        if not hidden:
            raise
        raise SchemaViolationError([replace(p, message=_hide(p.message, hidden)) for p in exc.problems]) from None
    return body


def _secret_values(value: Any, key: str | None = None) -> list[str]:
    """Every string held under a secret key (declared by the manifest or by name), at any depth."""
    if isinstance(value, str):
        return [value] if key is not None and secrets.is_secret_key(key) and value else []
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _secret_values(v, str(k))]
    if isinstance(value, list):
        return [found for item in value for found in _secret_values(item, key)]
    return []


def _hide(message: str, hidden: list[str]) -> str:
    for value in hidden:
        message = message.replace(value, REDACTED)
    return message
