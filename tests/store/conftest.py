"""One store suite for every engine: each test gets an opened store of every kind listed in ENGINES.

A new engine joins the suite by adding its name to ENGINES and a branch to `_build`. The Redis engine
runs against a real server (HM_TEST_REDIS_URL, default the local one); each test gets its own namespace,
deleted afterwards key by key (the server may be shared, so never FLUSHDB).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis

from handover_miaw.store import RedisStore, SqliteStore, Store
from tests.store.factories import Clock, OpenStore

ENGINES = ["sqlite", "redis"]
REDIS_URL = os.environ.get("HM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def clock() -> Clock:
    """The store's clock, starting at T0."""
    return Clock()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine under test."""
    return str(request.param)


@pytest.fixture
def redis_namespaces() -> Iterator[Callable[[], str]]:
    """Make namespaces of the test's own on the Redis server; all are deleted afterwards.

    Synchronous (a blocking client) so that an async fixture can ask for it with getfixturevalue.
    """
    made: list[str] = []

    def make() -> str:
        made.append(f"hm-test-{uuid.uuid4().hex}")
        return made[-1]

    yield make
    if made:
        with redis.Redis.from_url(REDIS_URL) as client:
            for namespace in made:
                keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
                if keys:
                    client.delete(*keys)


@pytest.fixture
def redis_namespace(redis_namespaces: Callable[[], str]) -> str:
    """One namespace of the test's own on the Redis server."""
    return redis_namespaces()


def _build(engine: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest) -> Store:
    if engine == "sqlite":
        return SqliteStore(tmp_path / "store.db", clock=clock)
    if engine == "redis":
        # Asked for only here, so the SQLite runs need no Redis server.
        return RedisStore(REDIS_URL, namespace=request.getfixturevalue("redis_namespace"), clock=clock)
    raise AssertionError(f"no fixture for engine {engine}")


@pytest.fixture
async def open_store(
    engine: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> AsyncIterator[OpenStore]:
    """Open a store on the test's storage; every call opens another on the same data (a restart)."""
    opened: list[Store] = []

    async def make() -> Store:
        store = _build(engine, tmp_path, clock, request)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    """An opened, empty store."""
    return await open_store()
