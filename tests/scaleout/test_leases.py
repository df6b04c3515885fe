"""Leases on the real Redis: exclusive, renewable, lapsing, released only by their owner."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from handover_miaw.store.leases import LocalLeases, RedisLeases, create_leases

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    name = f"hm-test-{uuid.uuid4().hex}"
    yield name
    client = redis.asyncio.Redis.from_url(URL)
    async for key in client.scan_iter(match=f"{name}:*"):
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
async def pair(namespace: str) -> AsyncIterator[tuple[RedisLeases, RedisLeases]]:
    a, b = RedisLeases(URL, namespace), RedisLeases(URL, namespace)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_a_lease_is_exclusive_and_renewable(pair: tuple[RedisLeases, RedisLeases], namespace: str) -> None:
    a, b = pair
    assert await a.acquire("stream:h1", "p1", 10)
    assert not await b.acquire("stream:h1", "p2", 10)
    assert await a.acquire("stream:h1", "p1", 10)
    assert await lease_owner(namespace, "stream:h1") == "p1"


async def test_a_lapsed_lease_can_be_taken_over(pair: tuple[RedisLeases, RedisLeases], namespace: str) -> None:
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


async def test_only_the_owner_releases(pair: tuple[RedisLeases, RedisLeases], namespace: str) -> None:
    a, b = pair
    assert await a.acquire("stream:h1", "p1", 10)
    await b.release("stream:h1", "p2")
    assert await lease_owner(namespace, "stream:h1") == "p1"
    await a.release("stream:h1", "p1")
    assert await lease_owner(namespace, "stream:h1") is None
    assert await b.acquire("stream:h1", "p2", 10)


async def test_namespaces_do_not_share_leases(namespace: str) -> None:
    a, b = RedisLeases(URL, namespace), RedisLeases(URL, namespace + "-other")
    await a.open()
    await b.open()
    try:
        assert await a.acquire("stream:h1", "p1", 10)
        assert await b.acquire("stream:h1", "p2", 10)
    finally:
        await a.close()
        await b.close()


async def test_engine_follows_the_store_url() -> None:
    assert isinstance(create_leases("/var/lib/handover-miaw/handover-miaw.db"), LocalLeases)
    assert isinstance(create_leases("sqlite:///x.db"), LocalLeases)
    assert isinstance(create_leases("redis://127.0.0.1:6379/0?namespace=x"), RedisLeases)
    local = LocalLeases()
    assert await local.acquire("stream:h1", "p1", 1)
    assert await local.acquire("stream:h1", "p2", 1)
