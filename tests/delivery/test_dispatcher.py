"""The dispatcher against a real receiver (an aiohttp test server) and a real SQLite store, one pass at a time.

Each test drives `drain_once()` itself under a settable clock (the store's and the dispatcher's), so what is
due is decided by the test, never by a sleep: head-of-line order per handover, backoff after a 5xx,
Retry-After on 429, dead-lettering past the horizon, and no re-post of an acknowledged delivery whose
outcome the store could not record.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from aiohttp import web

from handover_miaw.backoff import Backoff
from handover_miaw.delivery.dispatcher import Dispatcher
from handover_miaw.delivery.envelope import SIGNATURE_HEADER, envelope, verify
from handover_miaw.delivery.outbox import OutboxSignal
from handover_miaw.delivery.outcomes import DELIVERY_BACKOFF
from handover_miaw.delivery.targets import TargetPolicy
from handover_miaw.metrics import Metrics
from handover_miaw.store import SqliteStore
from handover_miaw.store.leases import RedisLeases
from handover_miaw.store.records import ConnectorRecord, Delivery, DeliveryState, NewDelivery
from tests.store.factories import T0, Clock, handover
from tests.waiting import wait_for

SECRET = "whsec_0123456789abcdef"


@dataclass
class Receiver:
    """Answers each delivery id with the statuses scripted for it (then 200); records every POST it gets."""

    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    posts: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verify(SECRET, body, request.headers[SIGNATURE_HEADER], now=T0)
        delivery = request.headers["X-Handover-Delivery"]
        self.posts.append(delivery)
        answers = self.script.get(delivery)
        status, headers = answers.pop(0) if answers else (200, {})
        return web.Response(status=status, headers=headers)


@dataclass
class Rig:
    store: SqliteStore
    clock: Clock
    receiver: Receiver
    session: aiohttp.ClientSession

    def dispatcher(self, **options: Any) -> Dispatcher:
        return Dispatcher(
            self.store,
            self.session,
            Metrics(),
            OutboxSignal(),
            clock=self.clock,
            policy=TargetPolicy(open=True),  # the receiver is on loopback
            **options,
        )

    async def enqueue(self, handover_id: str, *delivery_ids: str) -> None:
        """Deliveries for a handover, in this order, created at the clock's time."""
        if await self.store.get_handover(handover_id) is None:
            await self.store.create_handover(handover(handover_id))
        deliveries = [NewDelivery(d, handover_id, "agent.message", _envelope(d, handover_id)) for d in delivery_ids]
        assert await self.store.record_event(handover_id, None, {}, deliveries)

    async def stored(self, delivery_id: str) -> Delivery:
        (found,) = [d for d in await self.store.list_deliveries() if d.id == delivery_id]
        return found


def _refuse_settling(tmp_path: Path, *, refuse: bool) -> None:
    """A real write failure of the store, switched on or off: SQLite aborts the update that settles a delivery."""
    with sqlite3.connect(tmp_path / "store.db") as side:
        if refuse:
            side.execute(
                "CREATE TRIGGER refuse_settling BEFORE UPDATE OF state ON deliveries WHEN NEW.state = 'delivered' "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END"
            )
        else:
            side.execute("DROP TRIGGER refuse_settling")


def _envelope(delivery_id: str, handover_id: str) -> dict[str, Any]:
    return envelope(
        id=delivery_id,
        type="agent.message",
        handover_id=handover_id,
        connector="acme",
        session_id=f"session-{handover_id}",
        user_id="user-1",
        occurred_at=T0,
        data={"text": f"text of {delivery_id}"},
    )


@pytest.fixture
async def rig(aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)
    clock = Clock()
    store = SqliteStore(tmp_path / "store.db", clock=clock)
    await store.open()
    url = str(server.make_url("/hook"))
    await store.put_connector(ConnectorRecord("acme", {}, {"format": "webhook", "url": url, "secret": SECRET}, T0))
    async with aiohttp.ClientSession() as session:
        yield Rig(store, clock, receiver, session)
    await store.close()


async def test_a_handover_s_deliveries_go_in_order_and_handovers_do_not_wait_for_each_other(rig: Rig) -> None:
    await rig.enqueue("h1", "a1", "a2")
    await rig.enqueue("h2", "b1")
    rig.receiver.script["a1"] = [(503, {})]
    dispatcher = rig.dispatcher()

    assert await dispatcher.drain_once() == 2
    assert sorted(rig.receiver.posts) == ["a1", "b1"]  # each handover's head, h2 not held up by h1
    # a2 is due, but a1 is still pending before it: nothing of h1 goes until a1 is settled.
    assert (await rig.stored("a2")).next_attempt_at <= rig.clock.now
    assert await dispatcher.drain_once() == 0
    rig.clock.now += 1.0  # a1's retry is due
    assert await dispatcher.drain_once() == 1
    assert await dispatcher.drain_once() == 1
    assert [p for p in rig.receiver.posts if p.startswith("a")] == ["a1", "a1", "a2"]
    assert [(await rig.stored(d)).state for d in ("a1", "a2", "b1")] == [DeliveryState.DELIVERED] * 3


async def test_a_pass_reads_each_connector_once(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        await rig.enqueue(f"h{i}", f"d{i}")
    reads: list[str] = []
    read = rig.store.get_connector

    async def counted(name: str) -> ConnectorRecord | None:
        reads.append(name)
        await asyncio.sleep(0)  # a networked store's read suspends (SQLite's does not): the others start meanwhile
        return await read(name)

    monkeypatch.setattr(rig.store, "get_connector", counted)
    dispatcher = rig.dispatcher()
    assert await dispatcher.drain_once() == 5
    assert reads == ["acme"]  # the five attempts start together and share the read
    await rig.enqueue("h0", "d5")
    assert await dispatcher.drain_once() == 1
    assert reads == ["acme", "acme"]  # read again each pass: a connector changed meanwhile is seen
    assert sorted(rig.receiver.posts) == ["d0", "d1", "d2", "d3", "d4", "d5"]


async def test_a_failed_connector_read_holds_back_each_delivery_waiting_on_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.enqueue("h1", "d1")
    await rig.enqueue("h2", "d2")
    read = rig.store.get_connector

    async def failing(name: str) -> ConnectorRecord | None:
        await asyncio.sleep(0)  # suspends, as a networked store's read does: the second attempt waits on it
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(rig.store, "get_connector", failing)
    dispatcher = rig.dispatcher(backoff=Backoff(base=0.5, factor=1.0, cap=0.5))
    assert await dispatcher.drain_once() == 2
    assert rig.receiver.posts == []
    assert await dispatcher.drain_once() == 0  # both held back, not attempted again at once
    monkeypatch.setattr(rig.store, "get_connector", read)

    async def delivered() -> bool:
        await dispatcher.drain_once()
        return sorted(rig.receiver.posts) == ["d1", "d2"]

    await wait_for(delivered, "both delivered once the connector can be read")


async def test_a_5xx_is_retried_after_a_growing_jittered_backoff(rig: Rig) -> None:
    await rig.enqueue("h1", "d1")
    rig.receiver.script["d1"] = [(503, {}), (502, {})]
    backoff = Backoff(base=0.25, factor=2.0, cap=30.0)
    dispatcher = rig.dispatcher(backoff=backoff)

    await dispatcher.drain_once()
    first = await rig.stored("d1")
    assert (first.state, first.attempts, first.last_error) == (DeliveryState.PENDING, 1, "HTTP 503")
    assert T0 + backoff.ceiling(1) / 2 <= first.next_attempt_at <= T0 + backoff.ceiling(1)
    rig.clock.now = first.next_attempt_at - 0.001
    assert await dispatcher.drain_once() == 0  # not before its time
    assert rig.receiver.posts == ["d1"]

    rig.clock.now = first.next_attempt_at
    await dispatcher.drain_once()
    second = await rig.stored("d1")
    assert (second.state, second.attempts, second.last_error) == (DeliveryState.PENDING, 2, "HTTP 502")
    waited = second.next_attempt_at - rig.clock.now
    assert backoff.ceiling(2) / 2 <= waited <= backoff.ceiling(2)

    rig.clock.now = second.next_attempt_at
    await dispatcher.drain_once()
    done = await rig.stored("d1")
    assert (done.state, done.attempts, done.delivered_at) == (DeliveryState.DELIVERED, 3, rig.clock.now)
    assert rig.receiver.posts == ["d1", "d1", "d1"]


async def test_a_429_waits_as_long_as_retry_after_says(rig: Rig) -> None:
    await rig.enqueue("h1", "d1")
    rig.receiver.script["d1"] = [(429, {"Retry-After": "7"})]
    dispatcher = rig.dispatcher()

    await dispatcher.drain_once()
    limited = await rig.stored("d1")
    assert (limited.state, limited.last_error, limited.next_attempt_at) == (DeliveryState.PENDING, "HTTP 429", T0 + 7)
    rig.clock.now = T0 + 6.9
    assert await dispatcher.drain_once() == 0
    rig.clock.now = T0 + 7
    assert await dispatcher.drain_once() == 1
    assert (await rig.stored("d1")).state is DeliveryState.DELIVERED
    assert rig.receiver.posts == ["d1", "d1"]


async def test_a_delivery_still_failing_at_the_horizon_is_dead_and_frees_its_handover(rig: Rig) -> None:
    await rig.enqueue("h1", "d1", "d2")
    rig.receiver.script["d1"] = [(503, {})] * 10
    dispatcher = rig.dispatcher(horizon_s=60.0)

    rig.clock.now = T0 + 30  # well inside the horizon: retried
    await dispatcher.drain_once()
    assert (await rig.stored("d1")).state is DeliveryState.PENDING
    rig.clock.now = T0 + 59.9  # the next retry would start past created_at + 60 s
    await dispatcher.drain_once()
    dead = await rig.stored("d1")
    assert (dead.state, dead.attempts, dead.last_error) == (DeliveryState.DEAD, 2, "HTTP 503")
    assert await dispatcher.drain_once() == 1  # the next delivery of the handover goes now
    assert (await rig.stored("d2")).state is DeliveryState.DELIVERED
    assert rig.receiver.posts == ["d1", "d1", "d2"]


async def test_an_acknowledged_delivery_the_store_cannot_mark_is_not_posted_again(rig: Rig, tmp_path: Path) -> None:
    await rig.enqueue("h1", "d1")
    _refuse_settling(tmp_path, refuse=True)
    # Held back at least 0.25 s after each refused outcome (equal jitter on 0.5 s, never growing).
    dispatcher = rig.dispatcher(backoff=Backoff(base=0.5, factor=1.0, cap=0.5))

    assert await dispatcher.drain_once() == 1
    assert rig.receiver.posts == ["d1"]
    assert (await rig.stored("d1")).state is DeliveryState.PENDING  # the store still says it is due
    assert await dispatcher.drain_once() == 0  # held back, not attempted again at once

    async def attempted() -> bool:
        return await dispatcher.drain_once() > 0

    await wait_for(attempted, "the held-back delivery attempted again")
    assert rig.receiver.posts == ["d1"], "the receiver acknowledged it: only the outcome is written again"
    assert (await rig.stored("d1")).state is DeliveryState.PENDING

    _refuse_settling(tmp_path, refuse=False)

    async def settled() -> bool:
        await dispatcher.drain_once()
        return (await rig.stored("d1")).state is DeliveryState.DELIVERED

    await wait_for(settled, "the outcome stored once the store takes writes")
    done = await rig.stored("d1")
    assert (done.attempts, done.delivered_at) == (1, T0)
    assert rig.receiver.posts == ["d1"]


async def test_a_pass_s_acknowledged_deliveries_are_marked_together_none_lost_none_posted_twice(
    rig: Rig, tmp_path: Path
) -> None:
    await rig.enqueue("h1", "a1", "a2")
    await rig.enqueue("h2", "b1")
    await rig.enqueue("h3", "c1")
    rig.receiver.script["c1"] = [(503, {})]
    _refuse_settling(tmp_path, refuse=True)
    dispatcher = rig.dispatcher(backoff=Backoff(base=0.5, factor=1.0, cap=0.5))

    assert await dispatcher.drain_once() == 3
    assert sorted(rig.receiver.posts) == ["a1", "b1", "c1"]
    # The refused mark of the acknowledged two left both pending; the failure of c1 was stored on its own.
    assert [(await rig.stored(d)).state for d in ("a1", "b1")] == [DeliveryState.PENDING] * 2
    assert ((await rig.stored("c1")).attempts, (await rig.stored("c1")).last_error) == (1, "HTTP 503")

    _refuse_settling(tmp_path, refuse=False)
    rig.clock.now += 1.0  # c1's retry is due

    async def settled() -> bool:
        await dispatcher.drain_once()
        return all([(await rig.stored(d)).state is DeliveryState.DELIVERED for d in ("a1", "a2", "b1", "c1")])

    await wait_for(settled, "every delivery settled once the store takes writes")
    assert [((await rig.stored(d)).attempts, (await rig.stored(d)).delivered_at) for d in ("a1", "b1")] == [
        (1, T0),
        (1, T0),
    ]
    assert sorted(rig.receiver.posts) == ["a1", "a2", "b1", "c1", "c1"]  # acknowledged ones never posted again
    assert rig.receiver.posts.index("a2") > rig.receiver.posts.index("a1")


async def test_a_connector_of_an_unknown_format_keeps_its_deliveries_for_a_re_drive(rig: Rig) -> None:
    # A connector stored by another version (or edited in the store) whose format this version does not know:
    # its deliveries are failed attempts with backoff, then dead letters, never marked delivered unsent.
    await rig.store.put_connector(ConnectorRecord("acme", {}, {"format": "carrier-pigeon"}, T0))
    await rig.enqueue("h1", "d1")
    dispatcher = rig.dispatcher(horizon_s=60.0)
    assert await dispatcher.drain_once() == 1
    pending = await rig.stored("d1")
    assert pending.state is DeliveryState.PENDING
    assert "unknown delivery format 'carrier-pigeon'" in (pending.last_error or "")
    rig.clock.now += 120.0  # past the horizon
    await dispatcher.drain_once()
    assert (await rig.stored("d1")).state is DeliveryState.DEAD
    assert rig.receiver.posts == []


async def test_a_retry_after_in_other_digits_is_a_failed_attempt_with_backoff(rig: Rig) -> None:
    # "²" passed str.isdigit() and raised in float(): the attempt was taken for a store failure, never
    # counted, and the delivery stayed pending at 0 attempts past its horizon.
    await rig.enqueue("h1", "d1")
    rig.receiver.script["d1"] = [(429, {"Retry-After": "\u00b2"})]
    await rig.dispatcher().drain_once()
    limited = await rig.stored("d1")
    assert (limited.state, limited.attempts, limited.last_error) == (DeliveryState.PENDING, 1, "HTTP 429")
    assert T0 < limited.next_attempt_at <= T0 + DELIVERY_BACKOFF.ceiling(1)


async def test_a_receiver_s_endless_answer_is_read_no_further_than_needed(aiohttp_server: Any, tmp_path: Path) -> None:
    # The answer was read whole: an endless one held the attempt to its timeout, and a large one sat in memory.
    stop = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        while not stop.is_set():
            await response.write(b"x" * 65536)
        return response

    app = web.Application()
    app.router.add_post("/hook", endless)
    server = await aiohttp_server(app)
    store = SqliteStore(tmp_path / "store.db", clock=Clock())
    await store.open()
    url = str(server.make_url("/hook"))
    await store.put_connector(ConnectorRecord("acme", {}, {"format": "webhook", "url": url, "secret": SECRET}, T0))
    async with aiohttp.ClientSession() as session:
        rig = Rig(store, Clock(), Receiver(), session)
        await rig.enqueue("h1", "d1")
        await rig.dispatcher(request_timeout_s=20.0).drain_once()
        assert (await rig.stored("d1")).state is DeliveryState.DELIVERED
        stop.set()
    await store.close()


async def test_heads_whose_outbox_another_process_holds_do_not_crowd_out_this_one_s(rig: Rig) -> None:
    # The due list was cut to a pass's hundred before the lease was asked: another process's hundred oldest
    # heads (its attempts running) came first on every pass, and this process never saw its own.
    prefix = f"hm-test-{uuid.uuid4().hex}:"
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    leases = RedisLeases(lambda: client, prefix)
    try:
        for n in range(100):
            await rig.enqueue(f"o{n}", f"o{n}-1")
            assert await leases.acquire(f"outbox:o{n}", "other", 60.0)
        await rig.enqueue("mine", "m1")
        dispatcher = rig.dispatcher(leases=leases, owner="me")
        assert await dispatcher.drain_once() == 0  # a hundred of the other's: the next read makes room past them
        assert await dispatcher.drain_once() == 1
        assert rig.receiver.posts == ["m1"]
    finally:
        async for key in client.scan_iter(f"{prefix}*"):
            await client.delete(key)
        await client.aclose()
