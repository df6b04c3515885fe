"""What is particular to the Redis engine: key expiry, namespaces, several processes, readiness, the URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from handover_miaw.store import DuplicateHandoverError, RedisStore, create_store
from handover_miaw.store.records import ConnectorRecord, HandoverState
from tests.private_redis import PrivateRedis
from tests.store.conftest import REDIS_URL
from tests.store.factories import T0, Clock, handover, new_delivery

TTL_S = 600
ENDED = HandoverState.ENDED
# Keys that are the namespace's own, not a handover's: they never expire.
SHARED_KEYS = {"connectors", "order", "seq", "handovers", "handovers:ended", "deliveries:delivered", "expiring"}

MakeStore = Callable[..., Awaitable[RedisStore]]


@pytest.fixture
async def raw() -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client on the test server, to look at keys as Redis holds them."""
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def make_store(redis_namespace: str, clock: Clock) -> AsyncIterator[MakeStore]:
    """Open RedisStores (each its own client, as another process would have) on the test's namespace."""
    opened: list[RedisStore] = []

    async def make(
        namespace: str = redis_namespace, ended_ttl_s: float = TTL_S, dead_ttl_s: float | None = None
    ) -> RedisStore:
        dead = ended_ttl_s if dead_ttl_s is None else dead_ttl_s
        store = RedisStore(REDIS_URL, namespace=namespace, clock=clock, ended_ttl_s=ended_ttl_s, dead_ttl_s=dead)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def ttls(raw: redis.asyncio.Redis, namespace: str) -> dict[str, int]:
    """Every key of the namespace (without its prefix) and its PTTL: -1 when it does not expire."""
    keys = [key async for key in raw.scan_iter(match=f"{namespace}:*")]
    return {key.removeprefix(f"{namespace}:"): await raw.pttl(key) for key in keys}


def expire_soon(ttl: int) -> bool:
    return 0 < ttl <= TTL_S * 1000


async def test_an_ended_handover_expires_once_nothing_is_pending(
    make_store: MakeStore, raw: redis.asyncio.Redis, redis_namespace: str
) -> None:
    store = await make_store()
    await store.put_connector(ConnectorRecord("acme", {}, {}, T0))
    await store.create_handover(handover("h1"))
    await store.mark_user_message_sent("h1", "client-1", "miaw-a")
    await store.record_event("h1", "e1", {"state": ENDED, "ended_at": T0}, [new_delivery("d1"), new_delivery("d2")])
    # Ended, but deliveries are still pending: nothing may expire yet.
    assert set((await ttls(raw, redis_namespace)).values()) == {-1}
    await store.mark_delivered("d1", T0)
    assert set((await ttls(raw, redis_namespace)).values()) == {-1}

    await store.mark_dead("d2", "gave up")
    after = await ttls(raw, redis_namespace)
    handover_keys = {"h:h1", "entries:h1", "messages:h1", "delivery:d1", "delivery:d2"}
    assert all(expire_soon(after[key]) for key in handover_keys)
    # Connectors and indexes stay; the outbox stays until its index entries are freed after the expiry.
    assert after.keys() - handover_keys == SHARED_KEYS | {"outbox:h1", "deliveries:dead"}
    assert all(after[key] == -1 for key in after.keys() - handover_keys)


async def test_new_pending_work_stops_the_expiry(
    make_store: MakeStore, raw: redis.asyncio.Redis, redis_namespace: str
) -> None:
    store = await make_store()
    await store.create_handover(handover("h1"))
    await store.record_event("h1", "e1", {"state": ENDED}, [new_delivery("d1")])
    await store.mark_dead("d1", "gave up")
    assert expire_soon((await ttls(raw, redis_namespace))["h:h1"])

    assert await store.redrive("d1", T0)
    after = await ttls(raw, redis_namespace)
    assert after["h:h1"] == after["delivery:d1"] == after["entries:h1"] == -1
    await store.mark_delivered("d1", T0)
    assert expire_soon((await ttls(raw, redis_namespace))["delivery:d1"])
    # Reviving the handover stops it too.
    await store.update_handover("h1", {"state": HandoverState.ACTIVE})
    assert (await ttls(raw, redis_namespace))["h:h1"] == -1


async def test_a_dead_letter_keeps_its_handover_for_the_dead_letter_horizon(
    make_store: MakeStore, raw: redis.asyncio.Redis, redis_namespace: str
) -> None:
    store = await make_store(dead_ttl_s=TTL_S * 10)
    await store.create_handover(handover("h1"))
    await store.record_event("h1", "e1", {"state": ENDED}, [new_delivery("d1")])
    await store.mark_dead("d1", "gave up")
    after = await ttls(raw, redis_namespace)
    assert TTL_S * 1000 < after["h:h1"] <= TTL_S * 10_000
    assert after["delivery:d1"] == after["h:h1"] or abs(after["delivery:d1"] - after["h:h1"]) < 1000
    # Re-driven and delivered: back to the ended horizon.
    assert await store.redrive("d1", T0)
    await store.mark_delivered("d1", T0)
    assert expire_soon((await ttls(raw, redis_namespace))["h:h1"])


async def test_keys_made_after_the_end_expire_with_the_rest(
    make_store: MakeStore, raw: redis.asyncio.Redis, redis_namespace: str
) -> None:
    store = await make_store()
    await store.create_handover(handover("h1", state=ENDED))
    assert expire_soon((await ttls(raw, redis_namespace))["h:h1"])
    await store.record_event("h1", "late-entry", {}, [])
    await store.mark_user_message_sent("h1", "client-1", "miaw-a")
    after = await ttls(raw, redis_namespace)
    assert expire_soon(after["entries:h1"])
    assert expire_soon(after["messages:h1"])


async def test_an_expired_handover_leaves_nothing_behind(
    make_store: MakeStore, raw: redis.asyncio.Redis, redis_namespace: str
) -> None:
    # A zero TTL expires at once, so what the expiry frees can be checked without waiting.
    store = await make_store(ended_ttl_s=0)
    await store.create_handover(handover("h1", session_id="s"))
    await store.record_event("h1", "e1", {}, [new_delivery("d1"), new_delivery("d2")])
    await store.mark_delivered("d1", T0)
    await store.mark_dead("d2", "gave up")
    await store.update_handover("h1", {"state": ENDED, "ended_at": T0})

    assert await store.get_handover("h1") is None
    assert await store.find_live_handover("acme", "s") is None
    assert await store.list_handovers() == []
    assert await store.list_deliveries() == []
    assert await store.deliveries_after("h1", 0) == []
    assert set(await ttls(raw, redis_namespace)) == {"order", "seq"}


async def test_namespaces_do_not_see_each_other(
    make_store: MakeStore, redis_namespaces: Callable[[], str], clock: Clock
) -> None:
    first = await make_store()
    other = await make_store(namespace=redis_namespaces())
    await first.put_connector(ConnectorRecord("acme", {}, {}, T0))
    await first.create_handover(handover("h1", session_id="s"))
    await first.record_event("h1", "e1", {}, [new_delivery("d1")])

    assert await other.list_connectors() == []
    assert await other.get_handover("h1") is None
    assert await other.find_live_handover("acme", "s") is None
    assert await other.list_handovers() == []
    assert await other.due_deliveries(T0) == []
    # The same ids and session do not collide across namespaces.
    await other.create_handover(handover("h1", session_id="s"))
    assert await other.record_event("h1", "e1", {}, [new_delivery("d1")])
    assert [d.seq for d in await other.list_deliveries()] == [1]


async def test_two_processes_record_an_entry_once(make_store: MakeStore) -> None:
    first, second = await make_store(), await make_store()
    await first.create_handover(handover("h1"))
    results = await asyncio.gather(
        *(
            store.record_event("h1", "entry-1", {"agent_name": f"agent-{i}"}, [new_delivery(f"d{i}")])
            for i, store in enumerate([first, second] * 5)
        )
    )
    assert results.count(True) == 1
    winner = results.index(True)
    got = await second.get_handover("h1")
    assert got is not None
    assert got.agent_name == f"agent-{winner}"
    assert [d.id for d in await first.list_deliveries()] == [f"d{winner}"]


async def test_two_processes_create_one_handover_per_session(make_store: MakeStore) -> None:
    first, second = await make_store(), await make_store()
    results = await asyncio.gather(
        *(store.create_handover(handover(f"h{i}", session_id="s")) for i, store in enumerate([first, second] * 3)),
        return_exceptions=True,
    )
    assert sum(result is None for result in results) == 1
    winner = f"h{results.index(None)}"
    refusals = [result for result in results if result is not None]
    assert all(isinstance(r, DuplicateHandoverError) and r.existing.id == winner for r in refusals)
    assert [h.id for h in await second.list_handovers()] == [winner]


async def test_equal_creation_times_list_the_latest_insert_first(make_store: MakeStore) -> None:
    # As the SQLite engine does (rowid breaks ties), not by id.
    store = await make_store()
    for handover_id in ["b", "a", "c"]:
        await store.create_handover(handover(handover_id, created_at=T0))
    assert [h.id for h in await store.list_handovers()] == ["c", "a", "b"]


async def test_due_limit_keeps_the_oldest_deliveries(make_store: MakeStore) -> None:
    # Both heads are due; the lower seq comes first even though the other was due earlier (SQLite's order).
    store = await make_store()
    for handover_id in ["h1", "h2"]:
        await store.create_handover(handover(handover_id))
        await store.record_event(handover_id, None, {}, [new_delivery(f"{handover_id}-d1", handover_id)])
    await store.mark_retry("h1-d1", T0 + 10, "HTTP 503")
    assert [d.id for d in await store.due_deliveries(T0 + 20, limit=1)] == ["h1-d1"]


async def test_ping_is_false_once_the_server_is_gone(tmp_path: Path) -> None:
    # A private server, so the shared one keeps running.
    server = PrivateRedis(tmp_path / "redis", ["--save", "", "--appendonly", "no"])
    await asyncio.to_thread(server.start)
    try:
        store = RedisStore(server.url)
        await store.open()
        assert await store.ping() is True
        server.stop()
        assert await store.ping() is False
        await store.close()

        with pytest.raises(RedisConnectionError):
            await RedisStore(server.url).open()
    finally:
        server.stop()


async def test_create_store_takes_the_namespace_from_the_url(redis_namespace: str, raw: redis.asyncio.Redis) -> None:
    store = create_store(f"{REDIS_URL}?namespace={redis_namespace}")
    assert isinstance(store, RedisStore)
    await store.open()
    try:
        await store.put_connector(ConnectorRecord("acme", {}, {}, T0))
    finally:
        await store.close()
    assert await raw.hexists(f"{redis_namespace}:connectors", "acme")


def test_create_store_accepts_redis_urls_without_connecting() -> None:
    assert isinstance(create_store("redis://:hunter2@cache:6379/0"), RedisStore)
    assert isinstance(create_store("rediss://cache:6380/1?namespace=hm-prod"), RedisStore)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:hunter2@cache:6379/0?namespace=a:b", "namespace"),
        ("redis://:hunter2@cache:6379/0?namespace=", "namespace"),
        ("redis://:hunter2@cache:6379/0?namespace=a&namespace=b", "more than one"),
    ],
)
def test_create_store_refuses_a_bad_namespace(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        create_store(url)
    assert "hunter2" not in str(caught.value)
