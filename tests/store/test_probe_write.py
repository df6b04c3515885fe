"""`probe_write` (what /readyz asks) is False while the engine refuses writes and True again once it takes
them: SQLite in query-only mode, a private Redis server out of memory under `noeviction`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio

from handover_miaw.store import RedisStore, SqliteStore


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
    # A private server on a unix socket: its memory limit is changed, so never the shared one.
    socket = tmp_path / "redis.sock"
    server = await asyncio.create_subprocess_exec(
        "redis-server",
        *("--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)),
        *("--maxmemory-policy", "noeviction"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None
    try:
        async with asyncio.timeout(10):
            line = b""
            while b"ready to accept connections" not in line.lower():
                line = await server.stdout.readline()
                assert line, "redis-server exited before it was ready"
        admin = redis.asyncio.Redis(unix_socket_path=str(socket))
        store = RedisStore(f"unix://{socket}")
        await store.open()
        try:
            assert await store.probe_write() is True
            await admin.config_set("maxmemory", "1")
            assert await store.ping() is True
            assert await store.probe_write() is False
            await admin.config_set("maxmemory", "0")
            assert await store.probe_write() is True
        finally:
            await store.close()
            await admin.aclose()
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()
