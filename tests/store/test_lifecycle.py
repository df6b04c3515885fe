"""Opening, closing, readiness, and what survives a restart."""

from __future__ import annotations

from handover_miaw.store import Store
from handover_miaw.store.records import HandoverState
from tests.store.factories import T0, OpenStore, handover, new_delivery


async def test_ping(open_store: OpenStore) -> None:
    store = await open_store()
    assert await store.ping() is True
    await store.close()
    assert await store.ping() is False


async def test_everything_survives_a_restart(open_store: OpenStore) -> None:
    first = await open_store()
    await first.create_handover(handover("h1", session_id="s"))
    await first.record_event("h1", "entry-1", {"state": HandoverState.ACTIVE}, [new_delivery("d1"), new_delivery("d2")])
    await first.mark_user_message_sent("h1", "client-1", "miaw-a")
    await first.mark_retry("d1", T0 + 60, "HTTP 503")
    before = await first.get_handover("h1")
    await first.close()

    second = await open_store()
    assert await second.get_handover("h1") == before
    assert await second.record_event("h1", "entry-1", {}, []) is False
    stored = await second.get_user_message("h1", "client-1")
    assert stored is not None
    assert (stored.miaw_message_id, stored.state) == ("miaw-a", "sent")
    assert [d.id for d in await second.due_deliveries(T0 + 60)] == ["d1"]
    # The live-session guarantee survives too.
    assert (await second.find_live_handover("acme", "s")) == before


async def test_seq_keeps_growing_after_a_restart(open_store: OpenStore) -> None:
    first = await open_store()
    await first.create_handover(handover("h1"))
    await first.record_event("h1", None, {}, [new_delivery("d1")])
    last = (await first.deliveries_after("h1", 0))[-1].seq
    await first.close()

    second: Store = await open_store()
    await second.record_event("h1", None, {}, [new_delivery("d2")])
    assert [d.id for d in await second.deliveries_after("h1", last)] == ["d2"]
