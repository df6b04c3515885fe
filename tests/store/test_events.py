"""record_event: one atomic step per MIAW entry, each entry processed once; user message reservations."""

from __future__ import annotations

import asyncio

import pytest

from handover_miaw.store import StaleRecordError, Store
from handover_miaw.store.records import DeliveryState, HandoverState, NewDelivery
from tests.store.factories import T0, Clock, handover, new_delivery


async def test_records_changes_deliveries_and_the_processed_mark(store: Store, clock: Clock) -> None:
    await store.create_handover(handover("h1"))
    clock.now = T0 + 10
    recorded = await store.record_event(
        "h1",
        "entry-1",
        {"state": HandoverState.ACTIVE, "agent_name": "Ada", "last_event_id": "evt-1"},
        [new_delivery("d1", kind="handover.status"), new_delivery("d2")],
    )
    assert recorded is True
    got = await store.get_handover("h1")
    assert got is not None
    assert (got.state, got.agent_name, got.last_event_id, got.updated_at) == (
        HandoverState.ACTIVE,
        "Ada",
        "evt-1",
        T0 + 10,
    )
    deliveries = await store.list_deliveries()
    assert [(d.id, d.type, d.connector, d.state, d.attempts) for d in deliveries] == [
        ("d1", "handover.status", "acme", DeliveryState.PENDING, 0),
        ("d2", "agent.message", "acme", DeliveryState.PENDING, 0),
    ]
    assert all(d.next_attempt_at == T0 + 10 and d.created_at == T0 + 10 for d in deliveries)
    assert deliveries[0].payload == {"text": "message d1"}
    assert deliveries[0].seq < deliveries[1].seq
    # The entry is marked processed: offered again, it is refused.
    assert await store.record_event("h1", "entry-1", {}, []) is False


async def test_duplicate_entry_returns_false_and_changes_nothing(store: Store, clock: Clock) -> None:
    await store.create_handover(handover("h1"))
    assert await store.record_event("h1", "entry-1", {"state": HandoverState.QUEUED}, [new_delivery("d1")])
    before = await store.get_handover("h1")
    clock.now = T0 + 10
    again = await store.record_event(
        "h1", "entry-1", {"state": HandoverState.ACTIVE, "agent_name": "Ada"}, [new_delivery("d2")]
    )
    assert again is False
    assert await store.get_handover("h1") == before
    assert [d.id for d in await store.list_deliveries()] == ["d1"]


async def test_entry_ids_are_per_handover(store: Store) -> None:
    await store.create_handover(handover("h1"))
    await store.create_handover(handover("h2"))
    assert await store.record_event("h1", "entry-1", {}, [])
    assert await store.record_event("h2", "entry-1", {}, [])
    assert not await store.record_event("h1", "entry-1", {}, [])
    assert not await store.record_event("h2", "entry-1", {}, [])


async def test_events_without_entry_id_are_never_deduplicated(store: Store) -> None:
    await store.create_handover(handover("h1"))
    assert await store.record_event("h1", None, {"agent_name": "A"}, [new_delivery("d1")])
    assert await store.record_event("h1", None, {"agent_name": "B"}, [new_delivery("d2")])
    got = await store.get_handover("h1")
    assert got is not None
    assert got.agent_name == "B"
    assert len(await store.list_deliveries()) == 2


async def test_a_delivery_id_is_enqueued_once(store: Store) -> None:
    await store.create_handover(handover("h1"))
    assert await store.record_event("h1", "entry-1", {}, [new_delivery("d1")])
    assert await store.record_event("h1", "entry-2", {}, [new_delivery("d1"), new_delivery("d2")])
    assert [d.id for d in await store.list_deliveries()] == ["d1", "d2"]


async def test_unknown_handover_is_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.record_event("nope", "entry-1", {}, [])


async def assert_untouched(store: Store) -> None:
    assert await store.get_handover("h1") == handover("h1")
    assert await store.list_deliveries() == []
    # The entry was not marked: recording it now (correctly this time) is not refused as a duplicate.
    assert await store.record_event("h1", "entry-1", {"agent_name": "Ada"}, [])


async def test_unknown_field_stores_nothing(store: Store) -> None:
    await store.create_handover(handover("h1"))
    with pytest.raises(ValueError, match="no_such_field"):
        await store.record_event("h1", "entry-1", {"agent_name": "Ada", "no_such_field": 1}, [new_delivery("d1")])
    await assert_untouched(store)


async def test_failure_after_the_first_delivery_rolls_everything_back(store: Store) -> None:
    await store.create_handover(handover("h1"))
    unserialisable = NewDelivery("d2", "h1", "agent.message", {"text": object()})
    with pytest.raises(TypeError):
        await store.record_event("h1", "entry-1", {"agent_name": "Ada"}, [new_delivery("d1"), unserialisable])
    await assert_untouched(store)


async def test_delivery_of_another_handover_stores_nothing(store: Store) -> None:
    await store.create_handover(handover("h1"))
    await store.create_handover(handover("h2"))
    with pytest.raises(ValueError, match="h1"):
        await store.record_event("h1", "entry-1", {}, [new_delivery("d1", "h2")])
    await assert_untouched(store)


async def test_concurrent_duplicates_record_once(store: Store) -> None:
    await store.create_handover(handover("h1"))
    results = await asyncio.gather(
        *(store.record_event("h1", "entry-1", {"agent_name": f"agent-{i}"}, [new_delivery(f"d{i}")]) for i in range(10))
    )
    assert results.count(True) == 1
    winner = results.index(True)
    got = await store.get_handover("h1")
    assert got is not None
    assert got.agent_name == f"agent-{winner}"
    assert [d.id for d in await store.list_deliveries()] == [f"d{winner}"]


async def test_a_sent_user_message_is_remembered_with_its_first_miaw_id(store: Store, clock: Clock) -> None:
    await store.create_handover(handover("h1"))
    assert await store.get_user_message("h1", "client-1") is None
    await store.mark_user_message_sent("h1", "client-1", "miaw-a")
    first = await store.get_user_message("h1", "client-1")
    assert first is not None
    assert (first.miaw_message_id, first.state, first.created_at) == ("miaw-a", "sent", T0)
    clock.now = T0 + 5
    await store.mark_user_message_sent("h1", "client-1", "miaw-b")
    assert await store.get_user_message("h1", "client-1") == first
    await store.mark_user_message_sent("h1", "client-2", "miaw-c")
    other = await store.get_user_message("h1", "client-2")
    assert other is not None
    assert other.miaw_message_id == "miaw-c"
    assert await store.get_user_message("h2", "client-1") is None


async def test_user_message_of_unknown_handover_is_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.mark_user_message_sent("nope", "client-1", "miaw-a")
    assert await store.get_user_message("nope", "client-1") is None


async def test_a_guarded_write_lands_while_the_record_is_the_callers_copy(store: Store, clock: Clock) -> None:
    await store.create_handover(handover("h1"))
    kept = await store.get_handover("h1")
    assert kept is not None
    stamp = T0 + 10.123456789
    assert await store.record_event(
        "h1", "entry-1", {"agent_name": "Ada", "updated_at": stamp}, [new_delivery("d1")],
        expected_updated_at=kept.updated_at,
    )  # fmt: skip
    # The caller's stamp is stored as given, so its copy (stamped alike) guards the next write.
    assert await store.record_event("h1", "entry-2", {"updated_at": stamp + 1}, [], expected_updated_at=stamp)
    got = await store.get_handover("h1")
    assert got is not None
    assert (got.agent_name, got.updated_at) == ("Ada", stamp + 1)


async def test_a_guarded_write_on_a_record_changed_since_is_refused_whole(store: Store, clock: Clock) -> None:
    await store.create_handover(handover("h1"))
    kept = await store.get_handover("h1")
    assert kept is not None
    clock.now = T0 + 5
    await store.update_handover("h1", {"state": HandoverState.ENDED, "end_reason": "user_ended"})
    changed = await store.get_handover("h1")
    with pytest.raises(StaleRecordError):
        await store.record_event(
            "h1", "entry-1", {"agent_name": "Ada"}, [new_delivery("d1")], expected_updated_at=kept.updated_at
        )
    assert await store.get_handover("h1") == changed
    assert await store.list_deliveries() == []
    # Nothing was marked processed: the entry is applied when offered again from the fresh record.
    assert await store.record_event("h1", "entry-1", {}, [], expected_updated_at=T0 + 5)


async def test_a_guarded_write_on_a_record_gone_is_refused(store: Store) -> None:
    with pytest.raises(StaleRecordError):
        await store.record_event("h9", "entry-1", {}, [], expected_updated_at=T0)
    with pytest.raises(KeyError):
        await store.record_event("h9", "entry-1", {}, [])
