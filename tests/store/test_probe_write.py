"""`probe_write` (what /readyz asks) is False while the engine refuses writes and True again once it takes
them: SQLite in query-only mode, a private Redis server out of memory under `noeviction`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio

from handover_miaw.store import RedisStore, SqliteStore
from tests.private_redis import PrivateRedis


async def test_sqlite_refusing_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        assert await store.probe_write() is True
        connection = store._connection()  # SQLite itself refuses the writes
        connection.execute("PRAGMA query_only = ON")
        assert await store.ping() is True  # reads still answer: a ping alone said ready
        assert await store.probe_write() is False
        connection.execute("PRAGMA query_only = OFF")
        assert await store.probe_write() is True
    finally:
        await store.close()


async def test_redis_refusing_writes(tmp_path: Path) -> None:
    # A private server: its memory limit is changed, so never the shared one.
    server = PrivateRedis(tmp_path / "redis", ["--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"])
    await asyncio.to_thread(server.start)
    admin = redis.asyncio.Redis.from_url(server.url)
    store = RedisStore(server.url)
    try:
        await store.open()
        assert await store.probe_write() is True
        await admin.config_set("maxmemory", "1")
        assert await store.ping() is True
        assert await store.probe_write() is False
        await admin.config_set("maxmemory", "0")
        assert await store.probe_write() is True
    finally:
        await store.close()
        await admin.aclose()
        server.stop()
