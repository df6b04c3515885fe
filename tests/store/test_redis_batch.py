"""The events of many handovers recorded in the same loop turn share one pipeline, each still its own
script: its own refusal, its own dedupe, and the server's lost scripts loaded again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from handover_miaw.store import RedisStore, StaleRecordError
from tests.private_redis import PrivateRedis
from tests.store.factories import T0, Clock, handover, new_delivery


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A private server: its clients can be counted, and its scripts flushed without touching others'."""
    private = PrivateRedis(tmp_path / "redis", ["--save", "", "--appendonly", "no"])
    await asyncio.to_thread(private.start)
    yield private
    private.stop()


@pytest.fixture
async def store(server: PrivateRedis, clock: Clock) -> AsyncIterator[RedisStore]:
    opened = RedisStore(server.url, namespace="batch", clock=clock)
    await opened.open()
    for i in range(8):
        await opened.create_handover(handover(f"h{i}"))
    yield opened
    await opened.close()


async def record(store: RedisStore, i: int, entry: str = "entry-1", expected: float = T0) -> bool:
    delivery = new_delivery(f"d-{i}-{entry}", f"h{i}")
    return await store.record_event(
        f"h{i}", entry, {"agent_name": f"agent-{i}"}, [delivery], expected_updated_at=expected
    )


async def clients(server: PrivateRedis) -> int:
    async with redis.asyncio.Redis.from_url(server.url) as raw:
        return len(await raw.client_list()) - 1  # not this one


async def test_events_of_one_turn_share_one_connection(store: RedisStore, server: PrivateRedis) -> None:
    assert await asyncio.gather(*(record(store, i) for i in range(8))) == [True] * 8
    # Eight commands at once would each have taken a connection of their own from the pool.
    assert await clients(server) == 1
    for i in range(8):
        got = await store.get_handover(f"h{i}")
        assert got is not None
        assert got.agent_name == f"agent-{i}"
    assert sorted(d.id for d in await store.list_deliveries()) == sorted(f"d-{i}-entry-1" for i in range(8))


async def test_each_call_of_a_batch_is_answered_on_its_own(store: RedisStore) -> None:
    results = await asyncio.gather(
        record(store, 0),
        record(store, 1, expected=T0 - 1),  # another writer got there
        record(store, 2),
        record(store, 2),  # the same entry again, behind the first in the same pipeline
        record(store, 3),
        return_exceptions=True,
    )
    assert results[0] is True
    assert isinstance(results[1], StaleRecordError)
    assert results[2:] == [True, False, True]
    got = await store.get_handover("h1")
    assert got is not None
    assert got.agent_name is None
    assert sorted(d.id for d in await store.list_deliveries()) == ["d-0-entry-1", "d-2-entry-1", "d-3-entry-1"]


async def test_scripts_the_server_lost_are_loaded_again(store: RedisStore, server: PrivateRedis) -> None:
    async with redis.asyncio.Redis.from_url(server.url) as raw:
        await raw.script_flush()
    assert await asyncio.gather(*(record(store, i) for i in range(4))) == [True] * 4
    assert len(await store.list_deliveries()) == 4


async def test_a_caller_cancelled_before_the_send_records_nothing(store: RedisStore) -> None:
    first = asyncio.ensure_future(record(store, 0))
    second = asyncio.ensure_future(record(store, 1))
    await asyncio.sleep(0)  # both calls queued; the pipeline goes on the next turn
    first.cancel()
    assert await second is True
    with pytest.raises(asyncio.CancelledError):
        await first
    assert [d.id for d in await store.list_deliveries()] == ["d-1-entry-1"]
