"""Delivery connections go only where the target policy allows, decided on the resolved addresses.

A URL's host is checked when the connector is stored (`targets.TargetPolicy.url_problem`), but a name can
resolve to anything, and to something else later (DNS rebinding): the delivery session's resolver checks
every address a name resolves to, before aiohttp connects to any of them, and refuses the lot when one is
not allowed. aiohttp skips the resolver for an IP literal, so the dispatcher checks the URL itself too.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from handover_miaw.delivery.targets import TargetPolicy

__all__ = ["GuardedResolver", "TargetRefusedError", "delivery_session"]

# Lookups of delivery hosts at once; more wait for one of these threads, and only deliveries wait for them.
_LOOKUP_THREADS = 8


class TargetRefusedError(OSError):
    """The delivery target is not allowed (an internal address); the message never says which address."""

    def __init__(self, message: str) -> None:
        # With an errno the message is the OSError's strerror, which aiohttp shows in its connector error.
        super().__init__(errno.EACCES, message)


class _LookupThreads:
    """The two loop methods aiohttp's ThreadedResolver calls, run on threads of their own. In the loop's
    shared pool, delivery hosts whose DNS hung (a lookup can block for 40 s) filled every thread, and the MIAW
    session's lookups and the store's threaded work queued behind them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._threads = ThreadPoolExecutor(max_workers=_LOOKUP_THREADS, thread_name_prefix="delivery-dns")

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        return await self._loop.run_in_executor(self._threads, functools.partial(socket.getaddrinfo, *args, **kwargs))

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> Any:
        return await self._loop.run_in_executor(self._threads, socket.getnameinfo, sockaddr, flags)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


class GuardedResolver(AbstractResolver):
    """Resolve through `inner` (aiohttp's ThreadedResolver on threads of its own by default), then refuse
    unless every address is allowed by `policy`."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._threads = None if inner is not None else _LookupThreads(asyncio.get_running_loop())
        # ThreadedResolver takes the loop whose getaddrinfo it calls: given these threads' instead.
        self.inner = inner or aiohttp.ThreadedResolver(loop=cast(asyncio.AbstractEventLoop, self._threads))

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The inner resolver's answer, when every address in it is allowed."""
        results = await self.inner.resolve(host, port, family)
        if self.policy.host_allowed(host):
            return results
        for result in results:
            # Strip an IPv6 zone ("fe80::1%eth0"); a link-local address is refused either way.
            address = ipaddress.ip_address(result["host"].split("%", 1)[0])
            if not self.policy.address_allowed(address):
                # Which address is not said: a refusal must not tell an attacker what a name points at.
                raise TargetRefusedError(f"delivery host {host!r} resolves to an address that is not allowed")
        return results

    async def close(self) -> None:
        """Release the inner resolver and its threads."""
        await self.inner.close()
        if self._threads is not None:
            self._threads.close()


def delivery_session(policy: TargetPolicy, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The HTTP session deliveries go through: every connection's addresses checked against `policy`.
    It keeps no cookies: a delivery is signed, and a cookie one receiver set must not ride along on the
    deliveries of other handovers and connectors to the same host."""
    # A quarter of the connections at most to one host: receivers that hang cannot take those of the others.
    connector = _Connector(GuardedResolver(policy, resolver), limit=512, limit_per_host=128)
    # Not decompressed: the answer's body is never used, and a coding aiohttp cannot undo (br, zstd without
    # their packages) failed the attempt before its status was read, so a 200 was posted again.
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector, closing the resolver it was given: it closes only one it made itself, and the
    lookup threads were never shut down."""

    def __init__(self, resolver: GuardedResolver, **options: Any) -> None:
        super().__init__(resolver=resolver, **options)
        self._guarded = resolver

    async def close(self, *, abort_ssl: bool = False) -> None:
        """Close the connections, then the resolver and its threads."""
        await super().close(abort_ssl=abort_ssl)
        await self._guarded.close()
