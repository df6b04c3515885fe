"""The runtime tells when a Redis restart would lose data (issue 12, point 7): read from CONFIG GET (or
INFO persistence where CONFIG is disabled), logged at start and shown by /readyz. Each case runs its own
private redis-server, configured as the case says."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from handover_miaw.api import create_app
from handover_miaw.settings import Settings
from handover_miaw.store import RedisStore
from tests.private_redis import PrivateRedis, redis_server_available

pytestmark = pytest.mark.skipif(not redis_server_available(), reason="needs a redis-server binary")


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PrivateRedis]:
    private = PrivateRedis(tmp_path / "redis", request.param)
    private.start()
    yield private
    private.stop()


CASES: list[tuple[list[str], bool, str]] = [
    (["--appendonly", "no", "--save", ""], False, "a restart loses everything"),
    (["--appendonly", "no", "--save", "3600 1"], False, "RDB snapshots only"),
    (["--appendonly", "yes", "--appendfsync", "no"], False, "appendfsync no"),
    (["--appendonly", "yes", "--appendfsync", "everysec"], True, "up to ~1 s"),
    (["--appendonly", "yes", "--appendfsync", "always"], True, "loses nothing"),
    (["--appendonly", "yes", "--rename-command", "CONFIG", ""], True, "CONFIG is disabled"),
    (["--appendonly", "no", "--save", "", "--rename-command", "CONFIG", ""], False, "read from INFO"),
]


@pytest.mark.parametrize(("server", "safe", "says"), CASES, indirect=["server"], ids=[" ".join(c[0]) for c in CASES])
async def test_persistence_is_read_and_judged(server: PrivateRedis, safe: bool, says: str) -> None:
    store = RedisStore(server.url, namespace="durability")
    await store.open()
    try:
        durability = await store.durability()
    finally:
        await store.close()
    assert (durability.engine, durability.safe) == ("redis", safe), durability.detail
    assert says in durability.detail


@pytest.mark.parametrize("server", [["--appendonly", "no", "--save", ""]], indirect=True)
async def test_readyz_and_the_start_log_say_a_restart_would_lose_data(
    server: PrivateRedis, aiohttp_client: Any, tmp_path: Path, log_output: io.StringIO
) -> None:
    settings = Settings(data_dir=tmp_path, insecure_dev=True, store=f"{server.url}?namespace=readyz")
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert body["store"]["engine"] == "redis"
    assert body["store"]["durable"] is False
    assert "a restart loses everything" in body["store"]["detail"]
    (line,) = [orjson.loads(line) for line in log_output.getvalue().splitlines() if "store.not_durable" in line]
    assert "a restart loses everything" in line["detail"]
