"""Authentication and error bodies for every route.

Every error leaves as `{"error": {"code", "message", "pointer"?, "problems"?}}` with its status; an
unexpected exception becomes a 500 whose body says nothing about the cause (the log line has it, with
secrets redacted).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from handover_miaw.api.app_keys import SETTINGS
from handover_miaw.api.dev_hosts import host_served, requested_name
from handover_miaw.api.responses import json_response
from handover_miaw.errors import BodyStalledError, HandoverError, SchemaViolationError
from handover_miaw.logs import secrets

__all__ = ["PUBLIC_PATHS", "PUBLIC_PREFIXES", "error_response", "errors_middleware"]

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics", "/v1/openapi.json"})
# The UI's static files hold no data: the page asks for an API key and sends it with each /v1 call.
PUBLIC_PREFIXES = ("/ui/",)


def error_response(status: int, code: str, message: str, **extra: object) -> web.Response:
    """A JSON error body; any registered secret (token, key, webhook secret) in it is redacted."""
    error: dict[str, object] = {"code": code, "message": message}
    error.update({k: v for k, v in extra.items() if v is not None})
    # Scrubbed by value only: the body's own keys (code, message, pointer, problems) are not secret names.
    return json_response({"error": secrets.scrub(error)}, status=status)


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _foreign_host(request: web.Request) -> web.Response | None:
    """The 403 for an API request in development mode whose `Host` is a name not served (see dev_hosts)."""
    settings = request.app[SETTINGS]
    host = request.headers.get("Host")
    if not settings.insecure_dev or _public(request.path) or host_served(host, (settings.host, *settings.dev_hosts)):
        return None
    return error_response(
        403,
        "forbidden",
        f"in development mode the API answers only for localhost, an IP address or a name given with --dev-hosts "
        f"(HANDOVER_MIAW_DEV_HOSTS); this request was for {requested_name(host or '')[:100]!r}, as a page another "
        "site pointed at this runtime through DNS would be",
        pointer="/Host",
    )


def _authorized(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    if settings.insecure_dev or _public(request.path):
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        return False
    # aiohttp hands header bytes that are not UTF-8 over as lone surrogates; encoded back the same way
    # they compare as the bytes that were sent (and match no key) instead of failing to encode.
    sent = key.encode("utf-8", "surrogateescape")
    # Compare against every key, always, so the time taken does not tell which prefix matched.
    matched = False
    for candidate in settings.api_keys:
        matched |= hmac.compare_digest(sent, candidate.encode())
    return matched


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate, then turn every failure into the documented error body."""
    if (refused := _foreign_host(request)) is not None:
        return refused
    if not _authorized(request):
        response = error_response(401, "unauthorized", "a valid API key is required")
        response.headers["WWW-Authenticate"] = "Bearer"  # RFC 9110 requires the scheme on a 401
        return response
    try:
        return await handler(request)
    except SchemaViolationError as exc:
        problems = [p.as_dict() for p in exc.problems]
        return error_response(exc.status, exc.code, exc.message, pointer=exc.pointer, problems=problems)
    except BodyStalledError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        # Closed once answered: aiohttp would otherwise read and drop the rest of the body for its
        # lingering time (10 s), and what is left of this one may never come.
        request.protocol.force_close()
        return response
    except HandoverError as exc:
        return error_response(exc.status, exc.code, exc.message, pointer=exc.pointer)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "payload_too_large", "the request body is too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        response = error_response(exc.status, code, exc.reason)
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))  # RFC 9110 requires it on a 405
        return response
    except Exception:
        log.exception("api.unhandled_error", method=request.method, path=request.path)
        return error_response(500, "internal_error", "an internal error occurred")
