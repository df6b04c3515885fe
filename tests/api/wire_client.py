"""A raw-socket HTTP/1.1 client for wire-level tests: bytes go out exactly as the test writes them.

aiohttp's own client always sends a body in as few writes as it can, so it cannot show how the runtime
copes with a body that arrives in pieces, slowly, chunked, or with bytes no library would send. This one
writes what it is given, over plain TCP or TLS, and reads back one response (Content-Length, chunked, or
up to the close).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["WireConnection", "WireResponse", "chunked", "request_head"]

CRLF = b"\r\n"


@dataclass(frozen=True)
class WireResponse:
    """One HTTP response as it came off the wire."""

    status: int
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


def request_head(method: str, path: str, headers: Mapping[str, str | bytes], *, host: str = "127.0.0.1") -> bytes:
    """The request line and headers, ready to write. Header values may be bytes (sent as they are)."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + host.encode()]
    for name, value in headers.items():
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    return CRLF.join(lines) + CRLF + CRLF


def chunked(body: bytes, size: int) -> list[bytes]:
    """`body` framed as chunked transfer encoding, `size` bytes per chunk, then the last chunk."""
    frames = [f"{len(part):x}".encode() + CRLF + part + CRLF for part in _pieces(body, size)]
    return [*frames, b"0" + CRLF + CRLF]


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class WireConnection:
    """One client connection; `send` writes and drains, `response` reads one answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, tls: ssl.SSLContext | None = None) -> WireConnection:
        """Connect to the loopback port (TLS when a client context is given)."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="127.0.0.1" if tls else None
        )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """Write `data` as one write and wait until the transport has handed it on."""
        self.writer.write(data)
        await self.writer.drain()

    async def send_each(self, pieces: Iterable[bytes], after: Callable[[int], Awaitable[None]] | None = None) -> None:
        """Write every piece as its own write; `after(bytes sent so far)` runs after each one."""
        sent = 0
        for piece in pieces:
            await self.send(piece)
            sent += len(piece)
            if after is not None:
                await after(sent)

    async def response(self, seconds: float = 10.0) -> WireResponse:
        """Read one response."""
        async with asyncio.timeout(seconds):
            status_line = await self.reader.readuntil(CRLF)
            status = int(status_line.split(b" ", 2)[1])
            headers: dict[str, str] = {}
            while (line := await self.reader.readuntil(CRLF)) != CRLF:
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._chunked_body()
            elif "content-length" in headers:
                body = await self.reader.readexactly(int(headers["content-length"]))
            elif status in (204, 304):
                body = b""
            else:
                body = await self.reader.read()
        return WireResponse(status, headers, body)

    async def _chunked_body(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(CRLF)).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        while await self.reader.readuntil(CRLF) != CRLF:  # trailers
            pass
        return b"".join(parts)

    async def closed_by_peer(self, seconds: float) -> bytes:
        """Wait for the server to close the connection; return whatever it sent first."""
        async with asyncio.timeout(seconds):
            return await self.reader.read()

    async def close(self) -> None:
        """Close our side."""
        self.writer.close()
        # The server may have reset or closed first: nothing is left to close then.
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
