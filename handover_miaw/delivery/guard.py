"""Delivery connections go only where the target policy allows, decided on the resolved addresses.

A URL's host is checked when the connector is stored (`targets.TargetPolicy.url_problem`), but a name can
resolve to anything, and to something else later (DNS rebinding): the delivery session's resolver checks
every address a name resolves to, before aiohttp connects to any of them, and refuses the lot when one is
not allowed. aiohttp skips the resolver for an IP literal, so the dispatcher checks the URL itself too.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from handover_miaw.delivery.targets import TargetPolicy

__all__ = ["GuardedResolver", "TargetRefusedError", "delivery_session"]


class TargetRefusedError(OSError):
    """The delivery target is not allowed (an internal address); the message never says which address."""

    def __init__(self, message: str) -> None:
        # With an errno the message is the OSError's strerror, which aiohttp shows in its connector error.
        super().__init__(errno.EACCES, message)


class GuardedResolver(AbstractResolver):
    """Resolve through `inner`, then refuse unless every address is allowed by `policy`."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or aiohttp.ThreadedResolver()

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
        """Release the inner resolver."""
        await self.inner.close()


def delivery_session(policy: TargetPolicy, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The HTTP session deliveries go through: every connection's addresses checked against `policy`.
    It keeps no cookies: a delivery is signed, and a cookie one receiver set must not ride along on the
    deliveries of other handovers and connectors to the same host."""
    # Half the connections at most to one host: a receiver that hangs cannot take those of the others.
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=128, resolver=GuardedResolver(policy, resolver))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
