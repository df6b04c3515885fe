"""Requests from a client that shuts its sending side once they are sent (`nc -N`, `socat`, an HTTP/1.0
health-check script): answered, then the connection closed.

A TCP half-close only says the client has nothing more to send; it still reads. aiohttp's request handler
let asyncio close the whole connection at that point (its `eof_received` returns None: aiohttp#3659, open),
so such a client got no answer at all, not even to `GET /healthz`. Here the requests already received are
answered, in order, and the connection is closed after the last. As before, the connection is closed at once
when a request's body was cut short by the half-close (it can never complete; its handler's read fails) and
when an answer is already being streamed (an event-stream reader going away).
TLS has no half-close (both asyncio and uvloop close the connection on a bare TCP FIN under TLS).
"""

from __future__ import annotations

from typing import Any

import aiohttp.web_server
from aiohttp.http_exceptions import ContentLengthError, HttpProcessingError, PayloadEncodingError, TransferEncodingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

__all__ = ["HalfCloseRequestHandler", "answer_half_closed_requests"]


class HalfCloseRequestHandler(RequestHandler):
    """aiohttp's request handler, answering what a half-closed connection asked before closing it."""

    __slots__ = ("_client_done",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client_done = False

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's signature; aiohttp's says None
        """Keep the connection open for the answers (True) when whole requests wait for them."""
        current = self._current_request
        if current is not None and current.writer.output_size > 0:
            # An answer under way while its handler runs is a stream (an SSE reader): a browser leaving closes
            # its side, and the reader's place is given back now, not at the stream's next ping.
            return None
        waiter = self._waiter
        if current is None and not self._messages and waiter is not None and not waiter.done():
            return None  # nothing was asked (a partial head at most): closed now
        if not self._bodies_complete():
            return None  # a body can never end: closed now, and its handler's read fails
        self._client_done = True
        if not self._messages:  # the request being answered is the last: close once it is
            self.close()
        return True

    async def finish_response(
        self, request: BaseRequest, resp: StreamResponse, start_time: float | None
    ) -> tuple[StreamResponse, bool]:
        """aiohttp's, then the connection closed after the last request a half-closed client sent."""
        answered = await super().finish_response(request, resp, start_time)
        if self._client_done and not self._messages:
            self.close()
        return answered

    def _bodies_complete(self) -> bool:
        """Whether every request received has its whole body: the one being handled, those pipelined behind
        it, and one the parser is still reading (its head already taken from the queue before its handler
        began, as when head, part of the body and FIN come in one read), which its end of input refuses."""
        current = self._current_request
        if current is not None and not current.content.is_eof():
            return False
        if not all(payload.is_eof() for _, payload in self._messages):
            return False
        try:
            if self._parser is not None:
                self._parser.feed_eof()
        except (ContentLengthError, TransferEncodingError, PayloadEncodingError):  # a body cut short
            return False
        except HttpProcessingError:
            pass  # a head cut short after whole requests (`G` then FIN): those are answered, it is dropped
        return True


def answer_half_closed_requests() -> None:
    """Serve every connection of the process with HalfCloseRequestHandler: aiohttp has no setting for its
    handler class, only the name its server module calls. Called by `serve`, whose process is the runtime's."""
    aiohttp.web_server.RequestHandler = HalfCloseRequestHandler  # type: ignore[attr-defined]
