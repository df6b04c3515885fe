"""The runtime stops even when a cancel of one of its loops is lost on the way."""

from __future__ import annotations

import asyncio

import pytest

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.store.records import Delivery

from .conftest import REDIS, Factory


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
async def test_the_runtime_stops_when_the_dispatcher_loses_the_shutdown_s_cancel(
    engine: str, start_runtime: Factory, request: pytest.FixtureRequest
) -> None:
    # Python 3.11's asyncio.wait_for drops a cancel that lands as the awaited operation completes, and redis-py
    # sends every command through it: the dispatcher, cancelled at shutdown as its poll's command was sent,
    # took the reply and went on looping while the shutdown awaited it forever (seen when the runtime's Redis
    # keys had been deleted under it, which left the dispatcher busy with Redis when the shutdown came).
    store = "" if engine == "sqlite" else f"{REDIS}?namespace={request.getfixturevalue('redis_namespace')}"
    api = await start_runtime(**({"store": store} if store else {}))
    runtime_store = api.app[HANDOVERS].store
    due = runtime_store.due_deliveries
    polling = asyncio.Event()
    lost: list[bool] = []

    async def due_deliveries_losing_one_cancel(now: float, limit: int = 100) -> list[Delivery]:
        if lost:
            deliveries: list[Delivery] = await due(now, limit)
            return deliveries
        polling.set()
        try:
            await asyncio.Event().wait()  # a poll in flight when the shutdown comes
        except asyncio.CancelledError:
            lost.append(True)  # the reply arrived with the cancel, and the cancel was dropped
        return []

    runtime_store.due_deliveries = due_deliveries_losing_one_cancel
    async with asyncio.timeout(5):
        await polling.wait()
    closing = asyncio.ensure_future(api.close())
    # asyncio.wait, not a timeout around the close: the shutdown once swallowed the cancel of whoever awaited it.
    await asyncio.wait({closing}, timeout=10)
    assert lost == [True]
    assert closing.done(), "the runtime's shutdown waited for a loop that lost its cancel"
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "outbox-dispatcher"]
