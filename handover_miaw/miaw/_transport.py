"""HTTP plumbing shared by the client and the event stream (private).

The one place where aiohttp failures become MIAW errors (`translate_errors`), where an error status
becomes a typed error (`Transport.error`), and where the retry table is applied (`Transport.request`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from .errors import (
    MiawConnectionError,
    MiawError,
    MiawProtocolError,
    MiawTimeoutError,
    MiawTokenExpiredError,
    error_for_status,
)
from .models import AccessToken
from .retry import FailureKind, RetryPolicy, decide, parse_retry_after

__all__ = ["CallObserver", "Reply", "Transport", "stream_session", "translate_errors"]

_log = logging.getLogger("handover_miaw.miaw.client")

_ERROR_DETAIL_CHARS = 300
# What of an answer is read, counted after aiohttp decompressed it. A success answer was read whole, so a
# 200 MB answer took 600 MB and a 1 MB gzip bomb 3 GB. A page of conversation entries must hold at least one
# entry as large as the event stream reads (sse.DEFAULT_MAX_EVENT_CHARS, 8 Mi characters; up to 6 bytes
# each when JSON escapes them), so that an event too large for the stream is read from the entry list. Of an
# error, only its first characters are ever shown.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_ERROR_ANSWER_BYTES = 64 * 1024

CallObserver = Callable[[str, str, float], None]
"""Told of every HTTP attempt: the endpoint's name, the answer's status code or the failure's class name, and
the seconds the attempt took (to the body read; for the event stream, to the headers).

A plain callback rather than an aiohttp TraceConfig: once a session has one, aiohttp builds a parameters
object for each of its nine signals on every request, and with the URL-to-endpoint matching that was a
visible share of the runtime's CPU on the relay path (`python -m bench.profile relay` shows it)."""


def stream_session(*, connect_timeout: float = 10.0) -> aiohttp.ClientSession:
    """A ClientSession fit for long-lived event streams (and for REST calls next to them).

    aiohttp's defaults break streams silently: the connector's limit of 100 connections makes stream
    number 101 wait forever for a free connection, and the default 300 s total timeout kills every
    stream after five minutes. This session has no connection limit and no total timeout; each REST
    call carries its own timeout and streams use a read timeout as liveness check.

    It keeps no cookies: MIAW authenticates every call by its bearer token, and one session serves every
    handover of every connector, so a cookie set on one conversation's answer (a load balancer's, a
    `BrowserId`) would be sent with every other end user's calls to that host.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class translate_errors:  # lowercase, as contextlib.suppress: it reads as a function at its uses
    """Turn aiohttp and timeout failures raised inside the block into MiawTransportError.

    A class rather than @contextmanager: it wraps every MIAW call and every read of every event stream,
    and a generator-based manager cost several times more per use (4-6 µs of each stream read)."""

    __slots__ = ("_endpoint", "_timeout")

    def __init__(self, endpoint: str, timeout: float) -> None:
        self._endpoint = endpoint
        self._timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            return
        if isinstance(exc, TimeoutError):
            raise MiawTimeoutError(detail=f"{self._endpoint}: no answer within {self._timeout}s") from None
        if isinstance(exc, aiohttp.ClientError):
            # Includes a body cut short (ClientPayloadError): the request may or may not have landed.
            raise MiawConnectionError(detail=f"{self._endpoint}: {type(exc).__name__}") from exc


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: status, decoded JSON body (None when empty) and the raw `Date` header."""

    status: int
    body: object
    date: str | None = None


class Transport:
    """Base URL + session + timeout + retry policy; owns the session only if it created it."""

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None,
        request_timeout: float,
        retry_policy: RetryPolicy,
        clock: Callable[[], float],
        rand: Callable[[], float],
        observer: CallObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.request_timeout = request_timeout
        # aiohttp's own total timeout bounds the whole call, body included; an asyncio.timeout() around
        # it as well would arm a second timer per call.
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._observer = observer
        self.retry_policy = retry_policy
        self.clock = clock
        self._rand = rand
        self._session = session
        self._owns_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session in use, created on first access when none was injected."""
        if self._session is None:
            self._session = stream_session()
        return self._session

    async def close(self) -> None:
        """Close the session if it was created here."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def error(
        self, endpoint: str, status: int, headers: Mapping[str, str], raw: bytes, token: AccessToken | None
    ) -> MiawError:
        """The typed error for an error answer; the token is redacted from the detail."""
        try:
            body: object = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        message = body.get("message") if isinstance(body, dict) else body
        detail = f"{endpoint}: HTTP {status}"
        if message:
            detail += f": {str(message)[:_ERROR_DETAIL_CHARS]}"
        if token is not None:
            detail = detail.replace(token.token, "[redacted]")
        if status == 401 and token is not None and token.is_expired(self.clock()):
            return MiawTokenExpiredError(status=status, body=body, detail=detail)
        retry_after = parse_retry_after(headers.get("Retry-After"), self.clock())
        return error_for_status(status, body, detail=detail, retry_after=retry_after)

    async def _attempt(
        self, endpoint: str, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> tuple[int, Mapping[str, str], bytes]:
        started = time.perf_counter()
        with translate_errors(endpoint, self.request_timeout):
            try:
                async with self.session.request(
                    method, url, headers=headers, allow_redirects=False, timeout=self._timeout, **kwargs
                ) as resp:
                    raw = await _bounded_body(endpoint, resp)
            except (aiohttp.ClientError, TimeoutError, MiawProtocolError) as exc:
                # An answer too large to read is an attempt too: unobserved, /calls and the metrics left it out.
                self.observe(endpoint, type(exc).__name__, started)
                raise
        self.observe(endpoint, str(resp.status), started)
        return resp.status, resp.headers, raw

    def observe(self, endpoint: str, outcome: str, started: float) -> None:
        """Tell the observer, if any, how one attempt begun at `started` (perf_counter) ended."""
        if self._observer is not None:
            self._observer(endpoint, outcome, time.perf_counter() - started)

    async def request(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        token: AccessToken | None = None,
        params: Mapping[str, str] | None = None,
        json: object = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        ok_on_retry: frozenset[int] = frozenset(),
    ) -> Reply:
        """One call, retried per the retry table. `ok_on_retry`: statuses that, on a retry, mean the
        lost first attempt already did the job."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.token}"
        payload = orjson.dumps(json) if json is not None else None
        if payload is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            kwargs: dict[str, Any] = {"params": params, "data": form() if form else payload}
            outcome: int | FailureKind
            retry_after: str | None = None
            try:
                status, resp_headers, raw = await self._attempt(endpoint, method, self.base_url + path, headers, kwargs)
            except MiawTimeoutError as exc:
                error: MiawError = exc
                outcome = FailureKind.TIMEOUT
            except MiawConnectionError as exc:
                error, outcome = exc, FailureKind.CONNECTION
            else:
                if 200 <= status < 300:
                    return Reply(status, _parse_ok(endpoint, raw), resp_headers.get("Date"))
                if attempt > 1 and status in ok_on_retry:
                    return Reply(status, None)
                error, outcome = self.error(endpoint, status, resp_headers, raw, token), status
                retry_after = resp_headers.get("Retry-After")
            decision = decide(
                outcome, attempt, retry_after, now=self.clock(), policy=self.retry_policy, rand=self._rand
            )
            if not decision.retry:
                raise error
            _log.info(
                "miaw.retry_scheduled",
                extra={
                    "endpoint": endpoint,
                    "attempt": attempt,
                    "delay": decision.delay,
                    "reason": decision.reason,
                },
            )
            await asyncio.sleep(decision.delay)

    async def open_stream(
        self, path: str, headers: dict[str, str], token: AccessToken, session: aiohttp.ClientSession | None
    ) -> aiohttp.ClientResponse:
        """GET a text/event-stream; only the wait for the headers is bounded. Never retried here."""
        started = time.perf_counter()
        with translate_errors("sse", self.request_timeout):
            async with asyncio.timeout(self.request_timeout):
                try:
                    response = await (session or self.session).get(
                        self.base_url + path,
                        headers=headers,
                        allow_redirects=False,
                        # No total timeout: the stream is meant to stay open; liveness is the reader's job.
                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.request_timeout),
                    )
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.observe("sse", type(exc).__name__, started)
                    raise
                self.observe("sse", str(response.status), started)
                if response.status != 200:
                    async with response:
                        raw = await _bounded_body("sse", response)
                    raise self.error("sse", response.status, response.headers, raw, token)
        if response.content_type != "text/event-stream":
            response.close()
            raise MiawProtocolError(detail=f"sse: content type {response.content_type!r}")
        return response


async def _bounded_body(endpoint: str, response: aiohttp.ClientResponse) -> bytes:
    """The answer's body, decompressed, read in chunks: a success over MAX_ANSWER_BYTES is a protocol error
    (before a byte when its Content-Length says so); an error answer is cut at MAX_ERROR_ANSWER_BYTES."""
    ok = 200 <= response.status < 300
    limit = MAX_ANSWER_BYTES if ok else MAX_ERROR_ANSWER_BYTES
    too_large = MiawProtocolError(detail=f"{endpoint}: the answer is larger than {limit} bytes")
    if ok and response.content_length is not None and response.content_length > limit:
        raise too_large
    body = bytearray()
    while chunk := await response.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            if ok:
                raise too_large
            return bytes(body[:limit])
    return bytes(body)


def _parse_ok(endpoint: str, raw: bytes) -> object:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MiawProtocolError(detail=f"{endpoint}: success body is not JSON") from None
