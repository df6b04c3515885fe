"""Cursor paging of the list endpoints: `limit`, `after` and the `next` link.

The store's cursor is wrapped in base64url so clients treat it as opaque (its content differs between
engines and may change); a cursor that does not decode, or that the engine cannot read, is a 400 naming
`/after`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlencode

from aiohttp import web

from handover_miaw.digits import ascii_digits
from handover_miaw.errors import MalformedRequestError
from handover_miaw.store.records import Page

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "fetch_page", "next_link"]

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not ascii_digits(raw, 4) or not 1 <= int(raw) <= MAX_LIMIT:
        raise MalformedRequestError(f"limit must be a whole number from 1 to {MAX_LIMIT}", pointer="/limit")
    return int(raw)


def _after(request: web.Request) -> str | None:
    raw = request.query.get("after")
    if raw is None:
        return None
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MalformedRequestError("after is not a cursor this API returned", pointer="/after") from None


async def fetch_page(request: web.Request, read: Callable[[int, str | None], Awaitable[Page[T]]]) -> Page[T]:
    """Read the page the request's `limit` and `after` name through `read(limit, after)`."""
    limit, after = _limit(request), _after(request)
    try:
        return await read(limit, after)
    except ValueError:
        raise MalformedRequestError("after is not a cursor this API returned", pointer="/after") from None


def next_link(request: web.Request, page: Page[T]) -> str | None:
    """The path and query of the next page (the request's own query with a new `after`), or None."""
    if page.next is None:
        return None
    cursor = base64.urlsafe_b64encode(page.next.encode()).decode().rstrip("=")
    query = [(name, value) for name, value in request.query.items() if name != "after"]
    return f"{request.path}?{urlencode([*query, ('after', cursor)])}"
