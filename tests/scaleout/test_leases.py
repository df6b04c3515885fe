"""Leases on the real Redis: exclusive, renewable, lapsing, released only by their owner; handed out by the
store, on its own connections and under the namespace of its URL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from handover_miaw.store import Store, create_store
from handover_miaw.store.leases import Leases, LocalLeases, RedisLeases

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    name = f"hm-test-{uuid.uuid4().hex}"
    yield name
    client = redis.asyncio.Redis.from_url(URL)
    async for key in client.scan_iter(match=f"{name}*:*"):
        await client.delete(key)
    await client.aclose()


async def lease_owner(namespace: str, name: str) -> str | None:
    """The owner stored under the lease's key, read straight from Redis (None when the lease is free)."""
    client = redis.asyncio.Redis.from_url(URL, decode_responses=True)
    try:
        value = await client.get(f"{namespace}:lease:{name}")
    finally:
        await client.aclose()
    return None if value is None else str(value)


@pytest.fixture
async def stores(namespace: str) -> AsyncIterator[list[Store]]:
    """The stores a test opens, as several processes would; closed before the namespace is deleted."""
    opened: list[Store] = []
    yield opened
    for store in opened:
        await store.close()


async def leases_of(stores: list[Store], url: str) -> Leases:
    store = create_store(url)
    await store.open()
    stores.append(store)
    return store.leases()


@pytest.fixture
async def pair(stores: list[Store], namespace: str) -> tuple[Leases, Leases]:
    """Two processes' leases on the same store."""
    url = f"{URL}?namespace={namespace}"
    return await leases_of(stores, url), await leases_of(stores, url)


async def test_a_lease_is_exclusive_and_renewable(pair: tuple[Leases, Leases], namespace: str) -> None:
    a, b = pair
    assert await a.acquire("stream:h1", "p1", 10)
    assert not await b.acquire("stream:h1", "p2", 10)
    assert await a.acquire("stream:h1", "p1", 10)
    assert await lease_owner(namespace, "stream:h1") == "p1"


async def test_a_lapsed_lease_can_be_taken_over(pair: tuple[Leases, Leases], namespace: str) -> None:
    a, b = pair
    assert await a.acquire("stream:h1", "p1", 10)
    client = redis.asyncio.Redis.from_url(URL)
    # Expire it now instead of waiting: what matters is that an expired lease is free.
    await client.pexpire(f"{namespace}:lease:stream:h1", 1)
    await client.aclose()
    while await lease_owner(namespace, "stream:h1") is not None:
        pass
    assert await b.acquire("stream:h1", "p2", 10)
    assert not await a.acquire("stream:h1", "p1", 10)


async def test_only_the_owner_releases(pair: tuple[Leases, Leases], namespace: str) -> None:
    a, b = pair
    assert await a.acquire("stream:h1", "p1", 10)
    await b.release("stream:h1", "p2")
    assert await lease_owner(namespace, "stream:h1") == "p1"
    await a.release("stream:h1", "p1")
    assert await lease_owner(namespace, "stream:h1") is None
    assert await b.acquire("stream:h1", "p2", 10)


async def test_namespaces_do_not_share_leases(stores: list[Store], namespace: str) -> None:
    a = await leases_of(stores, f"{URL}?namespace={namespace}")
    b = await leases_of(stores, f"{URL}?namespace={namespace}-other")
    assert await a.acquire("stream:h1", "p1", 10)
    assert await b.acquire("stream:h1", "p2", 10)


async def test_leases_use_the_store_s_connections_and_the_namespace_of_its_url(namespace: str) -> None:
    # Other query parameters around the namespace are redis-py's and reach the store's pool: the client
    # name marks its connections on the server, so CLIENT LIST shows which connection ran what.
    tag = f"hm-lease-{uuid.uuid4().hex[:12]}"
    store = create_store(f"{URL}?client_name={tag}&namespace={namespace}&socket_timeout=5")
    observer = redis.asyncio.Redis.from_url(URL, decode_responses=True)

    async def commands_of_the_store() -> list[str]:
        return [c["cmd"] for c in await observer.client_list() if c["name"] == tag]

    await store.open()
    try:
        leases = store.leases()
        assert await commands_of_the_store() == ["ping"]
        assert await leases.acquire("stream:h1", "p1", 10)
        # The lease ran on the store's one connection (a pool of the leases' own would add a second one).
        assert await commands_of_the_store() == ["evalsha"]
        assert await observer.get(f"{namespace}:lease:stream:h1") == "p1"
        await leases.release("stream:h1", "p1")
        assert await commands_of_the_store() == ["evalsha"]
        assert await observer.get(f"{namespace}:lease:stream:h1") is None
        await store.close()
        # The leases have no connection of their own: they fail as the closed store does ...
        with pytest.raises(RuntimeError, match="not open"):
            await leases.acquire("stream:h1", "p1", 10)
        # ... and follow it when it is opened again.
        await store.open()
        assert await leases.acquire("stream:h1", "p1", 10)
    finally:
        await store.close()
        await observer.aclose()


async def test_the_engine_follows_the_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("leases") / "handover-miaw.db"
    assert isinstance(create_store(str(path)).leases(), LocalLeases)
    assert isinstance(create_store(f"sqlite:///{path}").leases(), LocalLeases)
    assert isinstance(create_store(f"{URL}?namespace=x").leases(), RedisLeases)
    local = LocalLeases()
    assert await local.acquire("stream:h1", "p1", 1)
    assert await local.acquire("stream:h1", "p2", 1)
