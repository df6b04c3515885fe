"""The shared store: Redis, for several runtime processes working on the same handovers.

Every change that touches more than one key runs as one Lua script (see redis_scripts for the key layout
and why), so a check and the writes it guards are atomic across processes. Input is validated and
encoded (redis_codec) before any script runs: a script that failed half-way would not be rolled back.

Ended handovers do not stay forever: once a handover has ended and has no pending delivery, its keys
expire after `ended_ttl_s` (connectors never expire). Values are never logged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import orjson
import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from handover_miaw.store import redis_pages as pages
from handover_miaw.store.base import DuplicateHandoverError, StaleRecordError
from handover_miaw.store.durability import Durability, from_redis_config, from_redis_info, unknown_redis
from handover_miaw.store.leases import RedisLeases
from handover_miaw.store.records import (
    HANDOVER_FIELDS,
    ConnectorRecord,
    Delivery,
    DeliveryState,
    HandoverRecord,
    HandoverState,
    NewDelivery,
    Page,
)
from handover_miaw.store.redis_batch import ScriptBatch
from handover_miaw.store.redis_codec import (
    connector_from_value,
    delivery_from_row,
    encode_changes,
    encode_fields,
    handover_from_dict,
    handover_from_row,
    live_field,
)
from handover_miaw.store.redis_messages import RELEASE_MESSAGE, RESERVE_MESSAGE, RedisMessages
from handover_miaw.store.redis_scripts import (
    CREATE_HANDOVER,
    DUE_DELIVERIES,
    FIND_LIVE,
    LIST_DELIVERIES,
    LIST_HANDOVERS,
    MARK_MESSAGE_SENT,
    RECORD_EVENT,
    REDRIVE,
    SETTLE,
    SETTLE_DELIVERED,
    UPDATE_HANDOVER,
)

__all__ = ["RedisStore"]

_SCRIPTS = (
    CREATE_HANDOVER,
    pages.DELIVERIES_AFTER,
    DUE_DELIVERIES,
    FIND_LIVE,
    LIST_DELIVERIES,
    LIST_HANDOVERS,
    MARK_MESSAGE_SENT,
    pages.PAGE_DELIVERIES,
    pages.PAGE_HANDOVERS,
    RECORD_EVENT,
    REDRIVE,
    SETTLE,
    SETTLE_DELIVERED,
    UPDATE_HANDOVER,
    RESERVE_MESSAGE,
    RELEASE_MESSAGE,
)
# No ':' (it separates the namespace from the key) and no glob characters (cleanup matches `{ns}:*`).
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]+")


# Connections to the server per process, and how long a command waits for one before failing.
_MAX_CONNECTIONS = 64
_POOL_WAIT_S = 10.0


class RedisStore(RedisMessages):
    """The Store engine several processes can share: one Redis server, keys under `{namespace}:`."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "hm",
        clock: Callable[[], float] = time.time,
        ended_ttl_s: float = 7 * 86400,
        dead_ttl_s: float = 30 * 86400,
    ) -> None:
        """Remember where the server is; `clock` stamps created/updated times (tests pass a fixed one).

        `ended_ttl_s` is how long an ended handover's keys live once nothing of it is pending; at least
        `dead_ttl_s` when one of its deliveries is dead (waiting for a re-drive).
        """
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError("a Redis store namespace is letters, digits, '_', '.' or '-'")
        if ended_ttl_s < 0 or dead_ttl_s < 0:
            raise ValueError("ended_ttl_s and dead_ttl_s cannot be negative")
        self._url = url
        self._prefix = f"{namespace}:"
        self._clock = clock
        self._ttl_ms = f"{round(ended_ttl_s * 1000)}:{round(dead_ttl_s * 1000)}"
        self._client: redis.asyncio.Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        # Events of many handovers arrive together under fan-in: their writes share round trips.
        self._events = ScriptBatch(self._redis, lambda: self._scripts[RECORD_EVENT])

    # Lifecycle

    async def open(self) -> None:
        """Connect, check the server answers, and register the scripts."""
        if self._client is not None:
            return
        # A blocking pool: past `max_connections` a command waits for a free connection. The default pool
        # raises MaxConnectionsError at its 101st concurrent command instead, which under load (found by
        # `python -m bench redis`: concurrent API calls beside live streams) failed event handling and
        # ended handovers with `stream_failed`.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            self._url, max_connections=_MAX_CONNECTIONS, timeout=_POOL_WAIT_S, decode_responses=True,
            socket_connect_timeout=5,
        )  # fmt: skip
        client = redis.asyncio.Redis.from_pool(pool)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        self._scripts = {script: client.register_script(script) for script in _SCRIPTS}
        self._client = client

    async def close(self) -> None:
        """Close the connections; open() may be called again."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def ping(self) -> bool:
        """True when the server answers; False (never an exception) when it is down or the store closed."""
        if self._client is None:
            return False
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def probe_write(self) -> bool:
        """True when the server takes a write (a short-lived key); False when it refuses writes (out of
        memory under `noeviction`, a failed RDB save with stop-writes-on-bgsave-error, a read-only replica)."""
        if self._client is None:
            return False
        try:
            await self._client.set(self._key("probe"), repr(self._clock()), px=60_000)
        except (RedisError, OSError):
            return False
        return True

    async def durability(self) -> Durability:
        """What a restart of the server would lose, from CONFIG GET (or INFO persistence where CONFIG is
        disabled, as managed services often do); never raises."""
        client = self._redis()
        try:
            config: dict[str, str] = {}
            for name in ("appendonly", "appendfsync", "save"):
                config.update(cast("dict[str, str]", await client.config_get(name)))
            return from_redis_config(config)
        except ResponseError:
            pass  # CONFIG renamed away or not permitted
        except (RedisError, OSError) as exc:
            return unknown_redis(type(exc).__name__)
        try:
            return from_redis_info(cast("dict[str, object]", await client.info("persistence")))
        except (RedisError, OSError) as exc:
            return unknown_redis(type(exc).__name__)

    def leases(self) -> RedisLeases:
        """Leases on this store's client and pool, under its namespace (`{namespace}:lease:`)."""
        return RedisLeases(self._redis, self._prefix)

    # Plumbing

    # The client decodes every reply (decode_responses=True), so where redis-py types a reply as
    # `bytes | str` it is a str: the casts below say so.
    def _redis(self) -> redis.asyncio.Redis:
        if self._client is None:
            raise RuntimeError("the store is not open")
        return self._client

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    async def _run(self, script: str, *args: str | int | float) -> Any:
        """Run a registered script with the calling convention of redis_scripts (prefix, TTL, arguments)."""
        self._redis()  # raises when the store is closed
        return await self._scripts[script](args=[self._prefix, self._ttl_ms, *args])

    # Connectors

    async def put_connector(self, record: ConnectorRecord) -> None:
        """Create or replace a connector."""
        value = orjson.dumps({"config": record.config, "delivery": record.delivery, "updated_at": record.updated_at})
        await self._redis().hset(self._key("connectors"), record.name, value)

    async def get_connector(self, name: str) -> ConnectorRecord | None:
        """One connector, or None."""
        value = cast("str | None", await self._redis().hget(self._key("connectors"), name))
        return None if value is None else connector_from_value(name, value)

    async def list_connectors(self) -> list[ConnectorRecord]:
        """Every connector, by name."""
        values = cast("dict[str, str]", await self._redis().hgetall(self._key("connectors")))
        return [connector_from_value(name, values[name]) for name in sorted(values)]

    async def delete_connector(self, name: str) -> bool:
        """Remove a connector; False when there was none."""
        return bool(await self._redis().hdel(self._key("connectors"), name))

    async def connectors_page(self, limit: int, after: str | None = None) -> Page[ConnectorRecord]:
        """Up to `limit` connectors by name, after the previous page's last; the hash is read whole (few)."""
        start = pages.connector_cursor(after)
        values = cast("dict[str, str]", await self._redis().hgetall(self._key("connectors")))
        names = [name for name in sorted(values) if name > start]
        items = [connector_from_value(name, values[name]) for name in names[:limit]]
        return Page(items, items[-1].name if len(names) > limit else None)

    # Handovers

    async def create_handover(self, record: HandoverRecord) -> None:
        """Insert a new handover; DuplicateHandoverError when its session already has a live one.

        ValueError when the record cannot be stored as given (its id is taken, a required field is None).
        """
        values = {name: getattr(record, name) for name in HANDOVER_FIELDS}
        pairs, state, created_at = encode_fields(values)
        live = live_field(record.connector, record.session_id)
        reply = await self._run(CREATE_HANDOVER, record.id, live, created_at, state, *pairs)
        if reply[0] == "duplicate":
            raise DuplicateHandoverError(handover_from_row(reply[1]))
        if reply[0] == "exists":
            raise ValueError(f"handover {record.id!r} not stored: its id is taken")

    async def get_handover(self, handover_id: str) -> HandoverRecord | None:
        """One handover, or None."""
        row = cast("dict[str, str]", await self._redis().hgetall(self._key("h", handover_id)))
        return handover_from_dict(row) if row else None

    async def find_live_handover(self, connector: str, session_id: str) -> HandoverRecord | None:
        """The session's handover that has not ended, if any (there is at most one)."""
        row = await self._run(FIND_LIVE, live_field(connector, session_id))
        return handover_from_row(row) if row else None

    async def list_handovers(self, state: str | None = None, limit: int = 100) -> list[HandoverRecord]:
        """Handovers, newest first (by creation, then by insertion), optionally in one state."""
        index = "handovers" if state is None else f"handovers:{HandoverState(state).value}"
        return [handover_from_row(row) for row in await self._run(LIST_HANDOVERS, index, limit)]

    async def handovers_page(self, state: str | None, limit: int, after: str | None = None) -> Page[HandoverRecord]:
        """Up to `limit` handovers, newest first, after the previous page's cursor (`score:member` of the
        last one in the creation index)."""
        index = "handovers" if state is None else f"handovers:{HandoverState(state).value}"
        rows = await self._run(pages.PAGE_HANDOVERS, index, limit, *pages.handover_cursor(after))
        items = [handover_from_row(row) for _score, _member, row in rows[:limit]]
        return Page(items, f"{rows[limit - 1][0]}:{rows[limit - 1][1]}" if len(rows) > limit else None)

    async def live_handover_ids(self) -> set[str]:
        """The ids of every handover that has not ended, read off the per-state indexes (members are
        `{order:016x}:{id}`)."""
        async with self._redis().pipeline(transaction=False) as pipe:
            for state in HandoverState:
                if state is not HandoverState.ENDED:
                    pipe.zrange(self._key(f"handovers:{state.value}"), 0, -1)
            replies = cast("list[list[str]]", await pipe.execute())
        return {member[17:] for members in replies for member in members}

    async def update_handover(self, handover_id: str, changes: Mapping[str, Any]) -> HandoverRecord:
        """Apply field changes and return the new record.

        KeyError for an unknown handover; ValueError for an unknown or identity field name (id, connector,
        session_id), an unknown state or None for a required field; DuplicateHandoverError when it would
        make a second live handover.
        """
        pairs, state, created_at = encode_changes(changes, self._clock())
        reply = await self._run(UPDATE_HANDOVER, handover_id, state, created_at, *pairs)
        return handover_from_row(self._checked(reply, handover_id)[1])

    async def record_event(
        self,
        handover_id: str,
        entry_id: str | None,
        changes: Mapping[str, Any],
        deliveries: Sequence[NewDelivery],
        *,
        expected_updated_at: float | None = None,
    ) -> bool:
        """In one script: mark entry_id processed, apply changes, enqueue deliveries.

        False, with nothing changed, when entry_id was already processed. A delivery id already in the
        outbox is not enqueued again (ids are stable). Raises as update_handover does, StaleRecordError
        when `expected_updated_at` is given and the stored updated_at is another, and ValueError for a
        delivery of another handover; nothing is stored then.
        """
        now = self._clock()
        pairs, state, created_at = encode_changes(changes, now)
        if any(delivery.handover_id != handover_id for delivery in deliveries):
            raise ValueError(f"every delivery of an event must belong to handover {handover_id!r}")
        triples = [item for d in deliveries for item in (d.id, d.type, orjson.dumps(d.payload).decode())]
        entry = ("1", entry_id) if entry_id is not None else ("0", "")
        # Stored values are orjson's text of the float, so the same text means the same stamp.
        expected = "" if expected_updated_at is None else orjson.dumps(expected_updated_at).decode()
        args: list[str | int | float] = [self._prefix, self._ttl_ms, handover_id, *entry, now, state, created_at]
        args += [expected, len(pairs)]
        reply = await self._events.run([*args, *pairs, *triples])
        status: str = self._checked(reply, handover_id)[0]
        if status == "stale":
            raise StaleRecordError(handover_id)
        return status == "ok"

    @staticmethod
    def _checked(reply: list[Any], handover_id: str) -> list[Any]:
        """A write script's reply, with its refusals raised as the SQLite engine raises them."""
        if reply[0] == "missing":
            raise KeyError(handover_id)
        if reply[0] == "duplicate":
            raise DuplicateHandoverError(handover_from_row(reply[1]))
        return reply

    # Outbox

    async def due_deliveries(self, now: float, limit: int = 100) -> list[Delivery]:
        """The oldest pending delivery of each handover, when its next attempt is due; oldest first."""
        return [delivery_from_row(row) for row in await self._run(DUE_DELIVERIES, now, limit)]

    async def mark_delivered(self, delivery_id: str, now: float) -> None:
        """The receiver acknowledged it: count the attempt and settle it."""
        await self._settle(delivery_id, "delivered", now, "")

    async def mark_delivered_many(self, delivered: Sequence[tuple[str, float]]) -> None:
        """Settle the deliveries the receiver acknowledged, each at its time, in one script; one no longer
        pending (settled already, or gone) is left alone."""
        if delivered:
            await self._run(SETTLE_DELIVERED, *(item for pair in delivered for item in pair))

    async def mark_retry(self, delivery_id: str, next_attempt_at: float, error: str) -> None:
        """A failed attempt: count it, keep the error, and schedule the next one."""
        await self._settle(delivery_id, "retry", next_attempt_at, error)

    async def mark_dead(self, delivery_id: str, error: str) -> None:
        """The last failed attempt: count it and give up, so later deliveries of the handover proceed."""
        await self._settle(delivery_id, "dead", "", error)

    async def _settle(self, delivery_id: str, outcome: str, when: float | str, error: str) -> None:
        """Apply an attempt's outcome to a pending delivery.

        A settled delivery is left alone (a late report must not revive or re-kill it); an unknown id is a
        KeyError.
        """
        if await self._run(SETTLE, delivery_id, outcome, when, error) == "missing":
            raise KeyError(delivery_id)

    async def redrive(self, delivery_id: str, now: float) -> bool:
        """Put a dead delivery back to pending, due now, its attempts kept; False when it is not dead."""
        return bool(await self._run(REDRIVE, delivery_id, now))

    async def list_deliveries(self, state: DeliveryState | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, oldest first, optionally in one state."""
        states = list(DeliveryState) if state is None else [DeliveryState(state)]
        rows = [delivery_from_row(row) for row in await self._run(LIST_DELIVERIES, limit, *(s.value for s in states))]
        return sorted(rows, key=lambda delivery: delivery.seq)[:limit]

    async def deliveries_page(
        self, state: DeliveryState | None, limit: int, after: str | None = None
    ) -> Page[Delivery]:
        """Up to `limit` deliveries by seq, after the previous page's cursor (the last seq)."""
        states = list(DeliveryState) if state is None else [DeliveryState(state)]
        rows = await self._run(pages.PAGE_DELIVERIES, limit, pages.seq_cursor(after), *(s.value for s in states))
        found = sorted((delivery_from_row(row) for row in rows), key=lambda delivery: delivery.seq)
        items = found[:limit]
        return Page(items, str(items[-1].seq) if len(found) > limit else None)

    async def count_deliveries(self, state: DeliveryState) -> int:
        """How many deliveries are in this state: the size of its index (which may still count, for a
        moment, those of a handover whose keys just expired, until collect() frees them)."""
        return int(await self._redis().zcard(self._key(f"deliveries:{DeliveryState(state).value}")))

    async def deliveries_after(self, handover_id: str, after_seq: int, limit: int = 500) -> list[Delivery]:
        """A handover's deliveries in every state with seq > after_seq, in order (SSE replay)."""
        rows = await self._run(pages.DELIVERIES_AFTER, handover_id, int(after_seq), limit)
        return [delivery_from_row(row) for row in rows]
