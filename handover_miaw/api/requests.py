"""Reading request bodies: whole, size-limited, parsed, validated against the API document before any effect."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
from aiohttp import hdrs, web
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.http_exceptions import HttpProcessingError

from handover_miaw.api.app_keys import API_DOC, SETTINGS
from handover_miaw.api.expect import continue_body
from handover_miaw.errors import (
    BodyStalledError,
    MalformedRequestError,
    PayloadTooLargeError,
    SchemaViolationError,
    UnsupportedMediaTypeError,
)
from handover_miaw.problems import Problem, pointer
from handover_miaw.schema import MAX_DEPTH, TOO_DEEP

__all__ = ["CODINGS_HINT", "CONTENT_CODINGS", "BodyReads", "admit_body", "is_json_media_type", "json_body", "read_body"]

T = TypeVar("T")


def is_json_media_type(content_type: str, charset: str | None) -> bool:
    """`application/json` or an `application/*+json` type, in UTF-8 (the only encoding JSON allows
    between systems, RFC 8259 section 8.1)."""
    kind = content_type.lower()
    json_type = kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
    return json_type and (charset is None or charset.lower() in {"utf-8", "utf8"})


def _content_codings() -> tuple[str, ...]:
    """The content codings aiohttp's request parser undoes here (brotli and zstd only with their packages)."""
    return ("identity", "gzip", "deflate") + ("br",) * HAS_BROTLI + ("zstd",) * HAS_ZSTD


CONTENT_CODINGS = _content_codings()
CODINGS_HINT = f"send the body as {', '.join(CONTENT_CODINGS)}"
# Nineteen digits in a row: the shortest integer literal past 64 bits (-9223372036854775809; many that are
# not have them too: see json_body).
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
ROUNDED_INTEGER = "an integer past 64 bits cannot be kept exactly: send it as a string"


def _undone(codings: list[str]) -> bool:
    """Whether the body's Content-Encoding headers name one coding aiohttp's parser undoes (or none). It
    undoes a value only when it is ASCII, so `gzip` followed by a no-break space is refused here, not passed
    on undecoded; an empty value names no coding (RFC 9110's list rule)."""
    if not codings:
        return True
    value = codings[0].strip(" \t").lower()
    return len(codings) == 1 and value.isascii() and (value in CONTENT_CODINGS or not value)


async def admit_body(request: web.Request, limit: int) -> None:
    """Before a byte of the body is read: refuse a declared Content-Length over `limit`, and a
    Content-Encoding the server cannot undo (RFC 9110 section 8.4.1: 415); then invite the body a client
    holds back for `Expect: 100-continue` (expect.py). aiohttp's parser passes a coding it does not know
    (`compress`, `gzip, gzip`, a second header) on as it came, so a compressed body was parsed as JSON and
    refused as "not valid JSON", hiding the reason."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the request body is over {limit} bytes")
    codings = request.headers.getall(hdrs.CONTENT_ENCODING, [])
    if not _undone(codings):
        sent = ", ".join(codings)[:100]
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {sent!r} is not supported: {CODINGS_HINT}", pointer="/Content-Encoding"
        )
    await continue_body(request)


class BodyReads:
    """Waits on a request body's reads (the JSON reader's and the multipart reader's), and turns a body
    that stops or is cut short into the client's error.

    - No byte for `idle_s`: 408. aiohttp closes a connection whose request head is slow (`keepalive_timeout`,
      app.server_options) but puts no limit on the body: a client gone without a word (a mobile link lost,
      no FIN, no RST) after its head held the handler, its buffers and the connection for good. As nginx's
      `client_body_timeout`, the limit is on each wait, not on the whole body: an upload on a slow link
      takes as long as it needs.
    - The connection closed before the body's last byte (Content-Length not reached, or mid-chunk), which
      aiohttp reports as ConnectionResetError: 400. It was a 500 logged with its traceback, one for every
      such disconnect, on networks that drop connections every day.
    """

    def __init__(self, request: web.Request) -> None:
        self._content = request.content
        self._idle_s = request.app[SETTINGS].header_timeout_s

    async def __call__(self, read: Awaitable[T]) -> T:
        """`read`'s result; BodyStalledError when it waits `idle_s` for a byte, MalformedRequestError when
        the client closed the connection before the body's end."""
        try:
            if self._content.is_eof():  # the whole body is here (most bodies): no read can wait, no timer
                return await read
            async with asyncio.timeout(self._idle_s):
                return await read
        except TimeoutError:
            raise BodyStalledError(f"the request body stopped arriving: no byte for {self._idle_s:g} s") from None
        except ConnectionResetError:
            raise MalformedRequestError("the connection closed before the whole request body arrived") from None


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however many network reads it takes; 413 as soon as it passes `limit` bytes, 408
    when it stops arriving, 400 when it is cut short or its framing broken (BodyReads).

    `StreamReader.read(n)` returns what has arrived so far, not `n` bytes, so a body split by the network
    (or sent chunked) needs a loop; aiohttp's `Request.read()` has one but only for the application-wide
    `client_max_size`, which is the file limit here, not the JSON one.
    """
    await admit_body(request, limit)
    body = bytearray()
    reads = BodyReads(request)
    try:
        while chunk := await reads(request.content.read(limit + 1 - len(body))):
            body += chunk
            if len(body) > limit:
                raise PayloadTooLargeError(f"the request body is over {limit} bytes")
    except (HttpProcessingError, web.RequestPayloadError):
        # aiohttp raises the second, around the first, when the framing breaks after the head; its message
        # may quote the bytes the client sent, and the body's bytes are never passed on.
        raise MalformedRequestError(
            "the request body could not be read: its chunked transfer encoding or content encoding is broken"
        ) from None
    return bytes(body)


async def json_body(request: web.Request, operation_id: str) -> Any:
    """The request's JSON body, checked against the operation's schema."""
    if not is_json_media_type(request.content_type, request.charset):
        # The header as sent: its media type alone hid why `application/json; charset=latin-1` was refused.
        sent = request.headers.get("Content-Type", "")[:100]
        raise UnsupportedMediaTypeError(
            f"the request body must be JSON in UTF-8, sent as Content-Type: application/json (got {sent!r})",
            pointer="/Content-Type",
        )
    raw = await read_body(request, request.app[SETTINGS].max_body_bytes)
    if not raw:
        raise MalformedRequestError("the request body is empty; a JSON object is expected")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"the request body is not valid JSON: {exc}") from exc
    # orjson reads 1,024 levels but writes about 254, and the schema does not descend into a free-form object
    # (a start's `context`): a deeper one failed where it was stored, a 500. Brackets are counted first, so
    # that the walk is only taken by a body that may need it.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(body) > MAX_DEPTH:
        raise SchemaViolationError([Problem("", TOO_DEEP)])
    # orjson reads an integer past 64 bits as the nearest float: a start's `context` stored
    # 123456789012345678901234567890 as 1.2345678901234568e+29, silently. Only a body with 19 digits in a
    # row can hold one, so the walk is only taken by such a body.
    if _LONG_DIGITS.search(raw) and _holds_a_long_integer(raw) and (where := _rounded_integer(body)) is not None:
        raise SchemaViolationError([Problem(where, ROUNDED_INTEGER)])
    # Schema messages never quote a write-only (secret) field's value, and of any other at most a prefix.
    request.app[API_DOC].validate(operation_id, body)
    return body


def _holds_a_long_integer(raw: bytes) -> bool:
    """Whether an integer literal of `raw` is past 64 bits (read again with the standard library, which tells
    an integer literal from a float one: `1e30` is a float as sent, and is kept)."""
    found = False

    def integer(literal: str) -> int:
        nonlocal found
        found = found or not -(2**63) <= int(literal) < 2**64
        return 0

    json.loads(raw, parse_int=integer)
    return found


def _rounded_integer(value: Any) -> str | None:
    """The pointer of an integer past 64 bits in `value` (read as an integral float out of their range)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
        elif isinstance(item, float) and item.is_integer() and not -(2**63) < item < 2**64:
            return pointer(path)
    return None


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in `value` (a walk with a stack, not recursion: it is client input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest
