"""Leases: which process owns a live handover's event stream (and drains its outbox) right now.

A lease is a name, an owner and an expiry. The owner renews it well before it expires; a process that
dies stops renewing, the lease lapses, and another process acquires it and takes the work over.

- `RedisLeases` — several runtime processes on one Redis: SET-if-free-or-mine with a TTL, atomic in a
  Lua script, expiry kept by the Redis server's own clock (the processes' clocks never matter).
- `LocalLeases` — the embedded SQLite store serves one process, so every lease is granted; this keeps one
  code path in the runtime instead of "if redis" branches.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import redis.asyncio
from redis.commands.core import AsyncScript

__all__ = ["Leases", "LocalLeases", "RedisLeases", "create_leases"]

# Acquire when free, renew when already ours; never take a live lease from another owner.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# Release only our own lease: a late release must not free a lease that another process took over.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leases(Protocol):
    """Named, expiring ownership."""

    async def open(self) -> None:
        """Connect."""

    async def close(self) -> None:
        """Disconnect (leases are not released: they lapse)."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lease if it is free or already ours (renewing it); False when another owner holds it."""

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up if we hold it."""


class LocalLeases:
    """One process owns everything (the embedded SQLite store)."""

    async def open(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to close."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Always granted."""
        del name, owner, ttl_s
        return True

    async def release(self, name: str, owner: str) -> None:
        """Nothing to release."""


class RedisLeases:
    """Leases on Redis, under the store's namespace."""

    def __init__(self, url: str, namespace: str = "hm") -> None:
        self._url = url
        self._prefix = f"{namespace}:lease:"
        self._client: redis.asyncio.Redis | None = None
        self._acquire: AsyncScript | None = None
        self._release: AsyncScript | None = None

    async def open(self) -> None:
        """Connect and register the scripts."""
        if self._client is None:
            client = redis.asyncio.Redis.from_url(self._url, decode_responses=True, socket_connect_timeout=5)
            await client.ping()
            self._acquire = client.register_script(_ACQUIRE)
            self._release = client.register_script(_RELEASE)
            self._client = client

    async def close(self) -> None:
        """Close the connections."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the lease for ttl_s seconds."""
        assert self._acquire is not None, "open() first"
        granted = await self._acquire(keys=[self._prefix + name], args=[owner, max(1, int(ttl_s * 1000))])
        return bool(granted)

    async def release(self, name: str, owner: str) -> None:
        """Release if ours."""
        assert self._release is not None, "open() first"
        await self._release(keys=[self._prefix + name], args=[owner])


def create_leases(store_url: str) -> Leases:
    """The lease engine that matches a store URL."""
    parts = urlsplit(store_url)
    if parts.scheme in ("redis", "rediss"):
        namespace = parse_qs(parts.query).get("namespace", ["hm"])[0]
        base = store_url.split("?", 1)[0]
        return RedisLeases(base, namespace)
    return LocalLeases()
