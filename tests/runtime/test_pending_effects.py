"""MIAW calls decided with a transition are stored with it: a runtime that dies before making them makes
them after the restart (the conversation of an ended handover is closed; an agent leave is classified)."""

from __future__ import annotations

from typing import Any

import pytest

from handover_miaw.settings import Settings
from handover_miaw.simulator import Simulator
from handover_miaw.store import create_store
from tests.waiting import wait_for

from .conftest import REDIS, Bot, Factory, Receiver


async def _crash_with(settings: Settings, handover_id: str, changes: dict[str, Any]) -> None:
    # What a process killed between storing a transition and making its MIAW calls leaves behind.
    store = create_store(settings.store_url)
    await store.open()
    try:
        await store.update_handover(handover_id, changes)
    finally:
        await store.close()


async def test_a_stored_close_is_made_after_a_restart(
    start_runtime: Factory, settings: Settings, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    first = await start_runtime()
    bot = Bot(first, sim, receiver, sim_url)
    await bot.connector()
    handover = await bot.start()
    await first.close()
    await _crash_with(
        settings,
        handover["id"],
        {
            "state": "ended",
            "end_status": "cancelled",
            "end_reason": "user_ended",
            "pending_effects": [{"type": "close"}],
        },
    )
    assert sim.conversation(handover["conversationId"]).closed_ms is None
    second = await start_runtime()
    await wait_for(lambda: sim.conversation(handover["conversationId"]).closed_ms is not None, "the close")
    response = await second.get(f"/v1/handovers/{handover['id']}")
    assert (await response.json())["state"] == "ended"


async def test_a_stored_routing_status_read_classifies_the_leave_after_a_restart(
    start_runtime: Factory, settings: Settings, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    first = await start_runtime()
    bot = Bot(first, sim, receiver, sim_url)
    await bot.connector()
    hid, cid = await bot.with_agent()
    await sim.leave(cid)
    # The leave is processed (and recorded) by this process; with End on Participant Change off it stays active.
    await wait_for(lambda: any(c.endpoint == "routing_status" for c in sim.calls), "the first status read")
    await first.close()
    reads = sum(c.endpoint == "routing_status" for c in sim.calls)
    # The crash: the leave's status read was stored as pending, under a node that ends on a leave. The
    # leave event itself will not come again (it is recorded as processed), so only the stored call can end it.
    settings_on = {**handover_settings(settings), "endOnParticipantChange": True}
    await _crash_with(
        settings, hid, {"settings": settings_on, "pending_effects": [{"type": "routing_status", "cause": "crash"}]}
    )
    second = await start_runtime()
    bot.api = second
    ended = await bot.wait_state(hid, "ended")
    assert (ended["endStatus"], ended["endReason"]) == ("completed", "agent_left")
    assert sum(c.endpoint == "routing_status" for c in sim.calls) == reads + 1
    await wait_for(lambda: sim.conversation(cid).closed_ms is not None, "the close after the leave")


def handover_settings(_settings: Settings) -> dict[str, Any]:
    """The node settings every test handover here starts with (all defaults)."""
    from handover_miaw.manifest import load_manifest

    return load_manifest().node_with_defaults({})


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
async def test_calls_another_process_stored_meanwhile_stay_stored(
    engine: str,
    start_runtime: Factory,
    settings: Settings,
    sim: Simulator,
    receiver: Receiver,
    sim_url: str,
    request: pytest.FixtureRequest,
) -> None:
    store_url = (
        settings.store_url if engine == "sqlite" else f"{REDIS}?namespace={request.getfixturevalue('redis_namespace')}"
    )
    runtime = await start_runtime(store=store_url)
    bot = Bot(runtime, sim, receiver, sim_url)
    await bot.connector()
    hid, cid = await bot.with_agent()
    hold = sim.hold("routing_status")
    await sim.leave(cid)
    await wait_for(lambda: hold.arrived == 1, "the leave's status read, in flight")
    other = create_store(store_url)
    await other.open()
    try:
        try:
            # Another process stores a call of its own with a transition, guarded as the engine's writes
            # are, while this one's read is in flight; it makes that call itself (or its successor does).
            stored = await other.get_handover(hid)
            assert stored is not None
            assert stored.pending_effects == [{"type": "routing_status", "cause": stored.pending_effects[0]["cause"]}]
            theirs = {"type": "notify", "text": "Back in a minute", "key": "other-process"}
            changes = {"pending_effects": [*stored.pending_effects, theirs], "updated_at": stored.updated_at + 1}
            assert await other.record_event(hid, None, changes, [], expected_updated_at=stored.updated_at)
        finally:
            hold.release()

        async def only_theirs_left() -> bool:
            record = await other.get_handover(hid)
            return record is not None and record.pending_effects == [theirs]

        await wait_for(only_theirs_left, "the status read taken off the stored calls, the other call kept")
    finally:
        await other.close()
    assert (await bot.wait_state(hid, "active"))["state"] == "active"
