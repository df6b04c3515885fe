"""CORS as a browser client of MIAW needs it: preflights answered on every route, and
``Access-Control-Allow-Origin`` on every real response (errors included, so a page can read them); the
control routes only for pages on this machine or allowed for control.

Hand-written rather than aiohttp-cors: that library is in maintenance mode, it wants every route registered
with it one by one (routes added later by a test, the benchmarks or another module would silently lack CORS),
and it still leaves the router's union-of-methods answer for ``OPTIONS /conversation/list``. What the
simulator needs is one rule for all paths: reflect an allowed origin, a fixed header list, and the methods
of the resource the path really resolves to.

The control routes (``/_sim``, and the benchmarks' ``/_bench``) get a narrower rule than MIAW's: any page the
developer visits could otherwise end conversations or inject faults cross-origin. MIAW's routes answer the
configured origins (any, by default, as a browser client on any dev origin needs); control routes answer only
loopback origins and the ones explicitly allowed for control, and a call to them from another origin is
refused outright (403). Decided by path, so routes added later under those prefixes are covered too.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from .httputil import error_response

__all__ = [
    "ALLOWED_HEADERS",
    "CONTROL_ORIGINS_KEY",
    "CONTROL_PREFIXES",
    "CORS_ORIGINS_KEY",
    "cors_middleware",
    "is_control_path",
    "is_loopback_origin",
    "setup_cors",
]

ALLOWED_HEADERS = ("authorization", "content-type", "x-org-id", "last-event-id", "cache-control")
"""What MIAW's browser clients send: the bearer token, JSON bodies, the event router's two headers and the
``Cache-Control: no-cache`` the event-source polyfill adds."""

MAX_AGE_S = 600
"""How long a browser may reuse a preflight answer."""

CORS_ORIGINS_KEY: web.AppKey[frozenset[str] | None] = web.AppKey("cors_origins")
"""Allowed origins (``https://app.example.com``); None allows every origin."""

CONTROL_ORIGINS_KEY: web.AppKey[frozenset[str]] = web.AppKey("control_origins")
"""Origins allowed on the control routes besides the loopback ones."""

CONTROL_PREFIXES = ("/_sim", "/_bench")
"""Paths that drive the simulator rather than emulate MIAW."""

_LOOPBACK_ORIGIN = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?")
"""An origin as a browser serializes it (lower case, no path) on a loopback host, any port."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback_origin(origin: str) -> bool:
    """``http(s)://127.0.0.1``, ``localhost`` or ``[::1]``, with or without a port: a page on this machine."""
    return _LOOPBACK_ORIGIN.fullmatch(origin) is not None


def is_control_path(path: str) -> bool:
    """Whether ``path`` is a control route's (or would be: unknown paths under a control prefix count)."""
    return any(path == prefix or path.startswith(f"{prefix}/") for prefix in CONTROL_PREFIXES)


def _allowed(request: web.Request, origin: str) -> bool:
    if is_control_path(request.path):
        return is_loopback_origin(origin) or origin in request.app[CONTROL_ORIGINS_KEY]
    origins = request.app[CORS_ORIGINS_KEY]
    return origins is None or origin in origins


def _refusal(request: web.Request, origin: str) -> web.Response:
    """The 403 of a request from an origin not allowed on that path, naming the reason."""
    if is_control_path(request.path):
        reason = "only loopback origins and those allowed for control (--control-origin) may drive the simulator"
        return error_response(403, "ORIGIN_NOT_ALLOWED", f"Origin {origin} is not allowed on {request.path}: {reason}.")
    return error_response(403, "ORIGIN_NOT_ALLOWED", f"Origin {origin} is not allowed.")


def _foreign_control_call(request: web.Request) -> str | None:
    """The ``Origin`` of a control-route call from a page not allowed there, else None.

    Withholding ``Access-Control-Allow-Origin`` only stops the page reading the answer: a body-less ``POST``
    (``.../end``, ``faults/expire-tokens``) is a CORS "simple request" that browsers send without a preflight,
    so the call itself is refused. Browsers always send ``Origin`` on such a call; curl and test clients send
    none and are not concerned.
    """
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or not is_control_path(request.path) or _allowed(request, origin):
        return None
    return origin


async def _path_methods(request: web.Request) -> set[str] | None:
    """The methods of the route pattern the path resolves to first, or None for an unknown path.

    A pattern may be spread over several resources (one per route name), so methods are gathered over every
    resource of that pattern. The router alone answers the union over *every* matching pattern, so
    ``/conversation/list`` would claim the DELETE of ``/conversation/{conversationId}``.
    """
    pattern: str | None = None
    found: set[str] = set()
    for resource in request.app.router.resources():
        _, methods = await resource.resolve(request)
        if not methods:
            continue
        if pattern is None:
            pattern = resource.canonical
        if resource.canonical == pattern:
            found |= methods
    if pattern is None:
        return None
    return found - {hdrs.METH_HEAD, hdrs.METH_OPTIONS}


async def _options(request: web.Request) -> web.StreamResponse:
    """Any ``OPTIONS`` of a known path: 204 with its ``Allow``; a preflight (``Origin`` and
    ``Access-Control-Request-Method``) from an allowed origin also gets the CORS answer, from another 403."""
    methods = await _path_methods(request)
    if methods is None:
        return error_response(404, "NOT_FOUND", f"No resource at {request.path}.")
    headers = {hdrs.ALLOW: ", ".join(sorted(methods | {hdrs.METH_OPTIONS}))}
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
        if not _allowed(request, origin):
            return _refusal(request, origin)
        headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ", ".join(sorted(methods))
        headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ", ".join(ALLOWED_HEADERS)
        headers[hdrs.ACCESS_CONTROL_MAX_AGE] = str(MAX_AGE_S)
    return web.Response(status=204, headers=headers)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer ``OPTIONS`` (preflights included) before routing turns it into a 405 whose ``Allow`` is the
    union over every matching pattern, and refuse a control-route call from a foreign page; everything else
    goes on to the handler."""
    if request.method == hdrs.METH_OPTIONS:
        return await _options(request)
    if (origin := _foreign_control_call(request)) is not None:
        return _refusal(request, origin)
    return await handler(request)


async def _allow_origin(request: web.Request, response: web.StreamResponse) -> None:
    """Signal handler: runs as every response is prepared, the streamed ones and the errors raised by
    the router or a handler included, which a middleware returning responses would miss."""
    origin = request.headers.get(hdrs.ORIGIN)
    response.headers.add(hdrs.VARY, hdrs.ORIGIN)
    if origin is not None and _allowed(request, origin):
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin


def setup_cors(
    app: web.Application, origins: frozenset[str] | None, control_origins: frozenset[str] = frozenset()
) -> None:
    """Give ``app`` CORS for ``origins`` (None: any origin) on MIAW's routes, and for loopback origins plus
    ``control_origins`` on the control routes. Put :func:`cors_middleware` first among the app's middlewares
    so a preflight never reaches fault injection or the call log."""
    app[CORS_ORIGINS_KEY] = origins
    app[CONTROL_ORIGINS_KEY] = control_origins
    app.on_response_prepare.append(_allow_origin)
