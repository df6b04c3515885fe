"""The HTTP server's own lines and answers (aiohttp's RequestHandler logs through the logger it is given, and
answers a request it cannot parse itself, before any middleware).

aiohttp logs a request it cannot parse — a broken chunk, a header line past its limit, a bad
Content-Length — as an error with its traceback, and the exception's message quotes the bytes the client
sent (a piece of the body, perhaps with a credential in it). Those requests are answered 400: they are the
client's fault, as a request with a bad method is, which aiohttp already logs at debug level. So they
become a warning naming what was wrong and who sent it, without the traceback or the quoted bytes; an
error of the server itself (anything else) stays an error with its traceback. The answer itself quoted the
same bytes in a text/plain body (an API key too, in a header aiohttp refused); it becomes the API's JSON error,
quoting nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from handover_miaw.api.middleware import error_response
from handover_miaw.api.requests import CODINGS_HINT

__all__ = ["SERVER_LOGGER", "answer_unparseable_requests_in_json"]


class _ClientFaults(logging.Filter):
    """Turns aiohttp's error line for an unparseable request into a warning without the client's bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        fault = _client_fault(record.exc_info[1] if record.exc_info else None)
        if fault is None or record.levelno < logging.ERROR:  # aiohttp's debug lines stay as they are
            return True
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        # "Error handling request from %s" names the client; its drain's "Unhandled exception" does not.
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "-"
        record.msg, record.args = "http.malformed_request from %s: %s (%d)", (remote, type(fault).__name__, fault.code)
        record.exc_info = record.exc_text = None
        # The logger let the record through as an error: a level set above warnings drops it here.
        return SERVER_LOGGER.isEnabledFor(logging.WARNING)


def _client_fault(exc: BaseException | None) -> HttpProcessingError | None:
    """The 4xx parse error behind `exc`: itself, or the cause aiohttp wraps in RequestPayloadError when a
    body's framing or encoding breaks after its head (read again by the drain after the answer)."""
    for candidate in (exc, exc.__cause__ if exc is not None else None):
        if isinstance(candidate, HttpProcessingError) and 400 <= candidate.code < 500:
            return candidate
    return None


SERVER_LOGGER = logging.getLogger("handover_miaw.api.server")
SERVER_LOGGER.addFilter(_ClientFaults())


def answer_unparseable_requests_in_json() -> None:
    """Answer what aiohttp refuses before routing (a header it cannot parse, broken framing) with the API's
    JSON error body, quoting none of the client's bytes; for the whole process, as aiohttp has no setting for
    it. Called by `serve`, whose process is the runtime's."""
    original = RequestHandler.handle_error
    if getattr(original, "_answers_in_json", False):
        return

    def handle_error(
        self: RequestHandler,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own first: it logs (through SERVER_LOGGER's filter) and raises when an answer has begun.
        original(self, request, status, exc, message)
        if isinstance(exc, ContentEncodingError):
            # A coding the parser knows but cannot undo here (brotli or zstd without its package): refused
            # while the head is read, before any handler, so the handler's 415 is given here.
            response = error_response(
                415,
                "unsupported_media_type",
                f"this Content-Encoding is not supported: {CODINGS_HINT}",
                pointer="/Content-Encoding",
            )
        elif 400 <= status < 500:
            response = error_response(status, "malformed_request", f"the request could not be read as HTTP ({status})")
        else:  # the status kept (aiohttp answers a handler's stray TimeoutError with 504)
            response = error_response(status, "internal_error", "an internal error occurred")
        response.force_close()
        return response

    handle_error._answers_in_json = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
