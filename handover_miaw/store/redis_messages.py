"""The Redis engine's user-message reservation: who sends a caller's message, across processes.

In `P messages:{id}` (see redis_scripts) a message's fields are `m:{client id}` (JSON [miaw id, created_at,
extra]), `s:{client id}` (its state) and `d:{client id}` (the digest of its text), plus, from its
reservation, `r:{client id}` (until when the reservation holds, in the server's milliseconds: the processes'
clocks may disagree, the server's is one). A reservation is claimed in one script, so two processes can
never both hold it; it lapses by itself when its holder dies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import orjson
import redis.asyncio
from redis.commands.core import AsyncScript

from handover_miaw.store.records import UserMessage
from handover_miaw.store.redis_scripts import MARK_MESSAGE_SENT

__all__ = ["RELEASE_MESSAGE", "RESERVE_MESSAGE", "RedisMessages"]

# ARGV: 1 prefix, 2 handover id, 3 client id, 4 value JSON [miaw id, created_at, {}], 5 digest, 6 hold (ms).
# Returns {'held', m} when the caller holds it now, else {'stored', m, state, digest or ''}.
RESERVE_MESSAGE = """
local P, id, c = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', P .. 'h:' .. id) == 0 then return {'missing'} end
local m = P .. 'messages:' .. id
local state = redis.call('HGET', m, 's:' .. c)
local digest = redis.call('HGET', m, 'd:' .. c)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[6])
if not state then
  redis.call('HSET', m, 'm:' .. c, ARGV[4], 's:' .. c, 'reserved', 'd:' .. c, ARGV[5], 'r:' .. c, until_ms)
  return {'held', ARGV[4]}
end
local stored = redis.call('HGET', m, 'm:' .. c)
local lapsed = state == 'reserved' and tonumber(redis.call('HGET', m, 'r:' .. c) or '0') < now
if lapsed and (not digest or digest == ARGV[5]) then
  redis.call('HSET', m, 'd:' .. c, ARGV[5], 'r:' .. c, until_ms)
  return {'held', stored}
end
return {'stored', stored, state, digest or ''}
"""

# ARGV: 1 prefix, 2 handover id, 3 client id. A sent message is kept.
RELEASE_MESSAGE = """
local m, c = ARGV[1] .. 'messages:' .. ARGV[2], ARGV[3]
if redis.call('HGET', m, 's:' .. c) == 'reserved' then
  redis.call('HDEL', m, 'm:' .. c, 's:' .. c, 'd:' .. c, 'r:' .. c)
end
return 0
"""


class RedisMessages:
    """RedisStore's user messages (idempotency on the caller's id, and the reservation above)."""

    _prefix: str
    _clock: Callable[[], float]
    _scripts: dict[str, AsyncScript]

    # The plumbing below is RedisStore's (connection, keys, scripts); declared here so the mixin type-checks.

    def _redis(self) -> redis.asyncio.Redis:
        raise NotImplementedError

    def _key(self, *parts: str) -> str:
        raise NotImplementedError

    async def _run(self, script: str, *args: str | int | float) -> Any:
        raise NotImplementedError

    def _checked(self, reply: list[Any], handover_id: str) -> list[Any]:
        raise NotImplementedError

    async def get_user_message(self, handover_id: str, client_message_id: str) -> UserMessage | None:
        """The message stored under this caller id, if any."""
        fields = [f"m:{client_message_id}", f"s:{client_message_id}", f"d:{client_message_id}"]
        stored, state, digest = cast(
            "list[str | None]", await self._redis().hmget(self._key("messages", handover_id), fields)
        )
        if stored is None:
            return None
        miaw_message_id, created_at, extra = orjson.loads(stored)
        if digest:
            extra = {**extra, "digest": digest}
        return UserMessage(handover_id, client_message_id, miaw_message_id, state or "sent", created_at, extra)

    def single_process(self) -> bool:
        """Several processes may share the namespace."""
        return False

    async def mark_user_message_sent(
        self, handover_id: str, client_message_id: str, miaw_message_id: str, digest: str | None = None
    ) -> None:
        """Record that MIAW accepted the message, atomically; a stored MIAW id and digest are kept. KeyError when
        the handover does not exist."""
        value = orjson.dumps([miaw_message_id, self._clock(), {}]).decode()
        reply = await self._run(MARK_MESSAGE_SENT, handover_id, client_message_id, value, digest or "")
        self._checked(reply, handover_id)

    async def reserve_user_message(
        self, handover_id: str, client_message_id: str, miaw_message_id: str, digest: str, hold_s: float
    ) -> tuple[bool, UserMessage]:
        """Claim the sending of a caller's message (see Store.reserve_user_message); one script."""
        value = orjson.dumps([miaw_message_id, self._clock(), {}]).decode()
        hold_ms = max(1, round(hold_s * 1000))
        script = self._scripts[RESERVE_MESSAGE]
        reply = await script(args=[self._prefix, handover_id, client_message_id, value, digest, hold_ms])
        reply = self._checked(reply, handover_id)
        stored_id, created_at, extra = orjson.loads(reply[1])
        if reply[0] == "held":
            held = UserMessage(handover_id, client_message_id, stored_id, "reserved", created_at, {"digest": digest})
            return True, held
        known = {"digest": reply[3]} if reply[3] else {}
        return False, UserMessage(handover_id, client_message_id, stored_id, reply[2], created_at, {**extra, **known})

    async def release_user_message(self, handover_id: str, client_message_id: str) -> None:
        """Drop an unsent reservation; a sent message is kept."""
        await self._scripts[RELEASE_MESSAGE](args=[self._prefix, handover_id, client_message_id])
