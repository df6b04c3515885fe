"""Leases: which process owns a live handover's event stream (and drains its outbox) right now.

A lease is a name, an owner and an expiry. The owner renews it well before it expires; a process that
dies stops renewing, the lease lapses, and another process acquires it and takes the work over.

The store hands out the leases that go with it (`Store.leases()`), so the store URL is parsed once
(store.location) and the leases share the store's connections:

- `RedisLeases` — several runtime processes on one Redis: SET-if-free-or-mine with a TTL, atomic in a
  Lua script, expiry kept by the Redis server's own clock (the processes' clocks never matter). They run on
  the RedisStore's client, so on its blocking pool (store/redis.py says why a default pool is not enough),
  under its namespace, and are usable while the store is open; the store's owner opens and closes it.
- `LocalLeases` — the embedded SQLite store serves one process, so every lease is granted; this keeps one
  code path in the runtime instead of "if redis" branches.

No I/O library is loaded here (redis only for type checking): the store interface names `Leases`, and the
pure core imports the store package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["Leases", "LocalLeases", "RedisLeases"]

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
    """Named, expiring ownership, usable while the store that gave it is open; a process that stops
    without releasing its leases lets them lapse."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lease if it is free or already ours (renewing it); False when another owner holds it."""

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up if we hold it."""


class LocalLeases:
    """One process owns everything (the embedded SQLite store)."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Always granted."""
        del name, owner, ttl_s
        return True

    async def release(self, name: str, owner: str) -> None:
        """Nothing to release."""


class RedisLeases:
    """Leases on Redis under `{prefix}lease:`, through the client `client()` returns (the store's)."""

    def __init__(self, client: Callable[[], redis.asyncio.Redis], prefix: str) -> None:
        """`client` is asked on every call, so the leases follow the store across close() and open() and
        fail as it does when it is closed; `prefix` is the store's namespace with its separator."""
        self._client = client
        self._prefix = f"{prefix}lease:"

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the lease for ttl_s seconds."""
        return bool(await self._run(_ACQUIRE, name, owner, max(1, int(ttl_s * 1000))))

    async def release(self, name: str, owner: str) -> None:
        """Release if ours."""
        await self._run(_RELEASE, name, owner)

    async def _run(self, script: str, name: str, *args: str | int) -> Any:
        # Registering only hashes the text (no I/O); the script object runs EVALSHA, loading the script
        # when the server does not know it (after a restart or a SCRIPT FLUSH).
        return await self._client().register_script(script)(keys=[self._prefix + name], args=args)
