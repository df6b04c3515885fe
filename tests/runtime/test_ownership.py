"""The ownership round next to handovers being started in the same process, and in another process on
the same Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.handovers.ownership import Ownership, StreamLeases
from handover_miaw.simulator import Simulator
from handover_miaw.store import SqliteStore, create_store
from handover_miaw.store.leases import LocalLeases
from handover_miaw.store.records import ConnectorRecord, HandoverRecord
from tests.store.factories import handover

from .conftest import REDIS, Bot, Factory, Receiver


async def test_a_start_in_flight_is_not_taken_for_an_interrupted_one(
    start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    # Rounds every 0.1 s while MIAW takes 0.5 s to issue the token: several rounds see the new handover
    # live and pending in the store before this process serves its stream.
    bot = Bot(await start_runtime(lease_ttl_s=0.3), sim, receiver, sim_url)
    await bot.connector()
    sim.add_latency("access_token", 0.5)
    handover = await bot.start()
    assert handover["state"] == "queued"
    await sim.accept(handover["conversationId"], agent="Maria")
    assert (await bot.wait_state(handover["id"], "active"))["state"] == "active"
    assert receiver.of_type("handover.ended", handover["id"]) == []


async def test_a_handover_created_while_a_round_waits_for_the_store_is_not_taken(tmp_path: Path) -> None:
    # Found by `python -m bench soak` (2 of 607 handovers ended `interrupted`): the round took its list
    # of served handovers, then waited for the store behind a start's insert; the start marked its
    # handover as served right after the insert, but the round went on with its older list, saw the new
    # handover live and unserved, and took it for one a dead process had left half-started.
    inserted = asyncio.Event()

    class StoreUnderLoad(SqliteStore):
        async def live_handover_ids(self) -> set[str]:
            await inserted.wait()  # the round's read is answered after the start's insert, as under load
            return await super().live_handover_ids()

    store = StoreUnderLoad(tmp_path / "store.db")
    await store.open()
    served: set[str] = set()
    attached: list[str] = []

    async def attach(record: HandoverRecord) -> None:
        attached.append(record.id)

    async def detach(_handover_id: str) -> None:
        return None

    async def start() -> None:  # as Starter.start: insert, then count as served
        await store.create_handover(handover("h1"))
        served.add("h1")
        inserted.set()

    ownership = Ownership(store, StreamLeases(LocalLeases()), attach=attach, detach=detach, served=lambda: list(served))
    try:
        await store.put_connector(ConnectorRecord("acme", {}, {}, 0.0))
        await asyncio.gather(ownership.round(), start())
    finally:
        await store.close()
    assert attached == []


async def test_another_process_s_round_does_not_take_a_handover_being_started(
    redis_namespace: str, start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    # tests/scaleout/test_takeover.py timed out under load: a start inserted its handover, then took its
    # lease; another process's round in between found the live, pending handover's lease free and took it
    # for one a dead process had left half-started (ending it `interrupted`). Here the other process's
    # round runs exactly there, right after the insert.
    store_url = f"{REDIS}?namespace={redis_namespace}"
    api = await start_runtime(store=store_url, lease_ttl_s=15.0)
    bot = Bot(api, sim, receiver, sim_url)
    await bot.connector()
    other_store = create_store(store_url)
    await other_store.open()
    taken: list[str] = []

    async def attach(record: HandoverRecord) -> None:
        taken.append(record.id)

    async def detach(_handover_id: str) -> None:
        return None

    other = Ownership(other_store, StreamLeases(other_store.leases(), 15.0), attach=attach, detach=detach, served=list)
    store = api.app[HANDOVERS].store
    insert = store.create_handover

    async def insert_then_other_round(record: HandoverRecord) -> None:
        await insert(record)
        await other.round()

    store.create_handover = insert_then_other_round  # type: ignore[method-assign]
    try:
        handover = await bot.start()
    finally:
        await other_store.close()
    assert taken == []
    assert handover["state"] == "queued"
    assert receiver.of_type("handover.ended", handover["id"]) == []


async def test_a_runtime_on_redis_closes_after_a_handover_ended(
    redis_namespace: str, start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    # The end arrives inside the stream's own callback, which retires the stream (a task that cancels it)
    # and releases the lease on Redis; the cancel landed in that Redis call and was lost, the stream went
    # back to reading, and closing the runtime waited for it forever.
    api = await start_runtime(store=f"{REDIS}?namespace={redis_namespace}", lease_ttl_s=2.0)
    bot = Bot(api, sim, receiver, sim_url)
    await bot.connector()
    handover = await bot.start()
    await sim.accept(handover["conversationId"], agent="Maria")
    await bot.wait_state(handover["id"], "active")
    await sim.end_session(handover["conversationId"])
    await bot.wait_state(handover["id"], "ended")
    # asyncio.wait, not a timeout around the close: a shutdown that swallowed the timeout's cancel would pass.
    closing = asyncio.ensure_future(api.close())
    await asyncio.wait({closing}, timeout=10)
    assert closing.done(), "closing the runtime waited for a stream that lost its cancel"
