"""`Expect: 100-continue` answered when a handler is about to read the body, not when the head arrives.

aiohttp's own expect handler sends `100 Continue` as soon as the request head is in, before the API key,
the declared length and the content coding are checked: a client with a 6 MiB file, or without a key, was
invited to send it all and then got a 413 or a 401. Here a route's expect handler only refuses an
expectation other than `100-continue` (417), and `continue_body` sends the interim answer once the body's
head passed its checks (`requests.admit_body`). A response to a body never invited (a 401, a 413 on the
declared length, a 417) says `Connection: close`, so the client does not send it, and the connection ends
when the client closes it (aiohttp reads and drops what it still sends, for 10 s at most).
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from handover_miaw.api.middleware import error_response
from handover_miaw.errors import MalformedRequestError

__all__ = ["close_if_not_invited", "continue_body", "expect_handler"]

_OWED: web.RequestKey[bool] = web.RequestKey("body_owed_an_invitation", bool)
"""Set by this module's expect handler: the client holds its body back until invited (or refused)."""


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """The routes' expect handler: a 417 for an expectation this server does not meet, else nothing yet."""
    if request.version != HttpVersion11:
        return None  # HTTP/1.0 has no interim answers: its client sends the body anyway
    request[_OWED] = True
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        sent = request.headers.get(hdrs.EXPECT, "")[:100]
        return error_response(
            417, "expectation_failed", f"Expect {sent!r} is not supported: only 100-continue", pointer="/Expect"
        )
    return None


async def continue_body(request: web.Request) -> None:
    """Invite the body a client holds back for `Expect: 100-continue`; nothing for any other request (nor
    on a route with aiohttp's own expect handler, which invited it already)."""
    if not request.get(_OWED, False):
        return
    request[_OWED] = False
    try:
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    except ConnectionResetError:
        # The client went away after its head: its error, not the server's (it was a 500 and a traceback).
        raise MalformedRequestError("the connection closed before the request body was sent") from None
    request.writer.output_size = 0  # as aiohttp's handler: the interim answer is not the response's


async def close_if_not_invited(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: say `Connection: close` on a response to a body that was never invited."""
    if request.get(_OWED, False):
        response.force_close()
        response.headers[hdrs.CONNECTION] = "close"  # the hook runs after aiohttp wrote its Connection header
