"""Receivers that answer slowly, never, or break their answer, against the dispatcher's real loop (`run`), a
real SQLite store and real receivers.

A pass waited for every attempt it started, so one receiver that never answered held each pass, and with it
every other connector's deliveries, to the request timeout. A 200 whose body trickled or broke counted as a
failed attempt (its status was taken only after the body), so the delivery was posted again and again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from handover_miaw.delivery import dispatcher as dispatcher_module
from handover_miaw.delivery.dispatcher import Dispatcher
from handover_miaw.delivery.guard import delivery_session
from handover_miaw.delivery.outbox import OutboxSignal
from handover_miaw.delivery.targets import TargetPolicy
from handover_miaw.metrics import Metrics
from handover_miaw.store import SqliteStore
from handover_miaw.store.records import ConnectorRecord, DeliveryState, NewDelivery
from tests.delivery.test_dispatcher import SECRET, _envelope
from tests.store.factories import T0, Clock, handover
from tests.waiting import wait_for


@dataclass
class Receivers:
    """Two hosts' receivers: `/stuck` never answers; `/hook` answers each delivery as scripted (200 else)."""

    posts: list[str] = field(default_factory=list)
    trickle: set[str] = field(default_factory=set)  # 200, then its body one byte and no more
    cut: set[str] = field(default_factory=set)  # 200, then the connection reset mid-body
    retry_after: dict[str, str] = field(default_factory=dict)  # 429 with this Retry-After
    zstd: set[str] = field(default_factory=set)  # 200 in a coding the client cannot undo
    slow: dict[str, float] = field(default_factory=dict)  # /stuck answers these 503 after so many seconds
    answered: list[str] = field(default_factory=list)
    hanging: int = 0  # posts to /stuck waiting now, and the most at once
    most_hanging: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def stuck(self, request: web.Request) -> web.StreamResponse:
        delivery = request.headers["X-Handover-Delivery"]
        self.posts.append(delivery)
        if delivery in self.slow:
            await asyncio.sleep(self.slow[delivery])  # the receiver's own pace (not a test's synchronisation)
            self.answered.append(delivery)
            return web.Response(status=503)
        self.hanging += 1
        self.most_hanging = max(self.most_hanging, self.hanging)
        try:
            await self.release.wait()
        finally:  # released, or the client gave up (the test server then cancels this handler)
            self.hanging -= 1
        return web.Response(status=200)

    async def hook(self, request: web.Request) -> web.StreamResponse:
        delivery = request.headers["X-Handover-Delivery"]
        self.posts.append(delivery)
        if delivery in self.zstd:
            return web.Response(status=200, body=b"\x28\xb5\x2f\xfd not zstd", headers={"Content-Encoding": "zstd"})
        if delivery in self.retry_after:
            return web.Response(status=429, headers={"Retry-After": self.retry_after[delivery]})
        if delivery in self.trickle or delivery in self.cut:
            response = web.StreamResponse(status=200)
            response.content_length = 100
            await response.prepare(request)
            await response.write(b"{")
            if delivery in self.cut:
                assert request.transport is not None
                request.transport.abort()
                return response
            await self.release.wait()
        return web.Response(status=200)


@dataclass
class Loop:
    store: SqliteStore
    receivers: Receivers
    signal: OutboxSignal
    due_reads: int = 0

    async def enqueue(self, handover_id: str, *delivery_ids: str) -> None:
        if await self.store.get_handover(handover_id) is None:
            await self.store.create_handover(handover(handover_id, connector=_CONNECTORS[handover_id]))
        deliveries = [NewDelivery(d, handover_id, "agent.message", _envelope(d, handover_id)) for d in delivery_ids]
        assert await self.store.record_event(handover_id, None, {}, deliveries)
        self.signal.notify(handover_id)

    async def state(self, delivery_id: str) -> tuple[DeliveryState, int]:
        (found,) = [d for d in await self.store.list_deliveries(limit=1000) if d.id == delivery_id]
        return found.state, found.attempts


_CONNECTORS: dict[str, str] = {"h-stuck": "stuck", "h1": "acme", "h2": "acme"}
_CONNECTORS.update({f"s{n}": "stuck" for n in range(150)})


@pytest.fixture
def request_timeout_s() -> float:
    return 30.0


@pytest.fixture
async def loop(aiohttp_server: Any, tmp_path: Path, request_timeout_s: float) -> AsyncIterator[Loop]:
    receivers = Receivers()
    stuck_app, hook_app = web.Application(), web.Application()
    stuck_app.router.add_post("/stuck", receivers.stuck)
    hook_app.router.add_post("/hook", receivers.hook)
    stuck, hook = await aiohttp_server(stuck_app), await aiohttp_server(hook_app)
    store = SqliteStore(tmp_path / "store.db", clock=Clock())
    await store.open()
    for name, url in (("stuck", stuck.make_url("/stuck")), ("acme", hook.make_url("/hook"))):
        await store.put_connector(
            ConnectorRecord(name, {}, {"format": "webhook", "url": str(url), "secret": SECRET}, T0)
        )
    signal = OutboxSignal()
    async with delivery_session(TargetPolicy(open=True)) as session:  # the runtime's own, as it is set up
        dispatcher = Dispatcher(
            store, session, Metrics(), signal, request_timeout_s=request_timeout_s, policy=TargetPolicy(open=True),
            clock=Clock(),
        )  # fmt: skip
        loop_ = Loop(store, receivers, signal)
        real_due = store.due_deliveries

        async def counted(now: float, limit: int = 100) -> Any:
            loop_.due_reads += 1
            return await real_due(now, limit)

        store.due_deliveries = counted  # type: ignore[method-assign]
        task = asyncio.get_running_loop().create_task(dispatcher.run())
        try:
            yield loop_
        finally:
            receivers.release.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await store.close()


async def test_a_receiver_that_never_answers_holds_back_no_other_connector(loop: Loop) -> None:
    await loop.enqueue("h-stuck", "s1")
    await wait_for(lambda: "s1" in loop.receivers.posts, "the stuck receiver's post")
    for n in range(3):  # each waits for the one before it: in order, and each in its own pass
        await loop.enqueue("h1", f"a{n}")
    await loop.enqueue("h2", "b0")
    for delivery in ("a0", "a1", "a2", "b0"):

        async def delivered(delivery: str = delivery) -> bool:
            return (await loop.state(delivery))[0] is DeliveryState.DELIVERED

        await wait_for(delivered, f"{delivery} delivered while s1 waits (request timeout 30 s)")
    assert [p for p in loop.receivers.posts if p.startswith("a")] == ["a0", "a1", "a2"]
    assert await loop.state("s1") == (DeliveryState.PENDING, 0)
    assert loop.receivers.posts.count("s1") == 1  # not started again while it runs


@pytest.mark.parametrize("answer", ["trickle", "cut"])
async def test_a_200_whose_body_trickles_or_breaks_is_delivered_once(
    loop: Loop, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    monkeypatch.setattr(dispatcher_module, "_ANSWER_BODY_S", 0.2)
    getattr(loop.receivers, answer).add("a0")
    await loop.enqueue("h1", "a0", "a1")

    async def both_delivered() -> bool:
        return [(await loop.state(d))[0] for d in ("a0", "a1")] == [DeliveryState.DELIVERED] * 2

    await wait_for(both_delivered, "a0 acknowledged by its status line, then a1")
    assert loop.receivers.posts == ["a0", "a1"]


async def test_a_429_with_a_retry_after_date_out_of_range_is_retried_on_the_backoff(loop: Loop) -> None:
    # parsedate raised OverflowError on it, which was taken for the store refusing the outcome: the delivery was
    # held back in memory for good, never recorded as attempted, never dead-lettered.
    loop.receivers.retry_after["a0"] = "Mon, 01 Jan 2030 00:00:99999999999999999999 GMT"
    await loop.enqueue("h1", "a0")

    async def attempt_recorded() -> bool:
        return await loop.state("a0") == (DeliveryState.PENDING, 1)

    await wait_for(attempt_recorded, "the 429 recorded as a failed attempt")


def _attempts_running() -> int:
    return sum(getattr(t.get_coro(), "__qualname__", "") == "Dispatcher._attempt" for t in asyncio.all_tasks())


async def test_a_receiver_hanging_for_many_handovers_runs_no_more_attempts_than_its_host_has_connections(
    loop: Loop,
) -> None:
    # One connector's attempts were not bounded: past its host's 128 connections they waited in aiohttp's queue
    # on their own clock, and 3,000 handovers on a hanging receiver made 3,000 tasks and due reads of as many rows.
    for n in range(150):
        await loop.enqueue(f"s{n}", f"s{n}-1")
    await wait_for(lambda: loop.receivers.hanging == 128, "the stuck receiver's connections taken")
    await loop.enqueue("h1", "a0")

    async def delivered() -> bool:
        return (await loop.state("a0"))[0] is DeliveryState.DELIVERED

    await wait_for(delivered, "a0 delivered beside the hanging receiver")
    assert _attempts_running() == 128


async def test_attempts_ending_late_one_by_one_read_the_due_list_a_few_times_a_second(loop: Loop) -> None:
    # Each attempt that ended after its pass stopped waiting woke a pass that read the whole due list again:
    # with many handovers on a slow receiver, a storm of large reads.
    for n in range(100):
        loop.receivers.slow[f"s{n}-1"] = 0.3 + n * 0.01  # 503s spread over a second
        await loop.enqueue(f"s{n}", f"s{n}-1")
    before = loop.due_reads
    await wait_for(lambda: len(loop.receivers.answered) == 100, "every slow answer", seconds=10)
    assert loop.due_reads - before < 30, loop.due_reads - before


async def test_a_200_in_a_coding_the_client_cannot_undo_is_delivered_once(loop: Loop) -> None:
    # Decompressed, its head failed before the status was read (zstd without its package), and it was posted again.
    loop.receivers.zstd.add("a0")
    await loop.enqueue("h1", "a0", "a1")

    async def both_delivered() -> bool:
        return [(await loop.state(d))[0] for d in ("a0", "a1")] == [DeliveryState.DELIVERED] * 2

    await wait_for(both_delivered, "a0 acknowledged, then a1")
    assert loop.receivers.posts == ["a0", "a1"]
