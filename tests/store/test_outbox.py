"""The outbox: head-of-line order per handover, retries, dead letters, redrive, replay."""

from __future__ import annotations

import pytest

from handover_miaw.store import Store
from handover_miaw.store.records import DeliveryState
from tests.store.factories import T0, Clock, handover, new_delivery


@pytest.fixture
async def outbox(store: Store, clock: Clock) -> Store:
    """Two handovers with three deliveries each, interleaved, all enqueued (and due) at T0."""
    for handover_id in ["h1", "h2"]:
        await store.create_handover(handover(handover_id))
    for n in range(1, 4):
        for handover_id in ["h1", "h2"]:
            await store.record_event(handover_id, f"e{n}", {}, [new_delivery(f"{handover_id}-d{n}", handover_id)])
    return store


async def due_ids(store: Store, now: float) -> list[str]:
    return [d.id for d in await store.due_deliveries(now)]


async def test_only_the_head_of_each_handover_is_due(outbox: Store) -> None:
    assert await due_ids(outbox, T0) == ["h1-d1", "h2-d1"]


async def test_nothing_is_due_before_its_time(outbox: Store) -> None:
    assert await due_ids(outbox, T0 - 1) == []


async def test_delivered_head_uncovers_the_next(outbox: Store) -> None:
    await outbox.mark_delivered("h1-d1", T0 + 1)
    assert await due_ids(outbox, T0 + 1) == ["h2-d1", "h1-d2"]
    delivered = (await outbox.list_deliveries(DeliveryState.DELIVERED))[0]
    assert (delivered.id, delivered.attempts, delivered.delivered_at) == ("h1-d1", 1, T0 + 1)


async def test_a_scheduled_retry_holds_back_its_handover_only(outbox: Store) -> None:
    await outbox.mark_retry("h1-d1", T0 + 60, "HTTP 503")
    assert await due_ids(outbox, T0 + 1) == ["h2-d1"]
    head = (await outbox.due_deliveries(T0 + 60))[0]
    assert (head.id, head.attempts, head.last_error, head.next_attempt_at) == ("h1-d1", 1, "HTTP 503", T0 + 60)
    await outbox.mark_retry("h1-d1", T0 + 120, "timeout")
    retried = (await outbox.due_deliveries(T0 + 120))[0]
    assert (retried.attempts, retried.last_error) == (2, "timeout")


async def test_dead_does_not_block_the_next(outbox: Store) -> None:
    await outbox.mark_dead("h1-d1", "gave up")
    assert await due_ids(outbox, T0) == ["h2-d1", "h1-d2"]
    dead = await outbox.list_deliveries(DeliveryState.DEAD)
    assert [(d.id, d.attempts, d.last_error) for d in dead] == [("h1-d1", 1, "gave up")]


async def test_redrive_puts_a_dead_delivery_back_in_line(outbox: Store) -> None:
    await outbox.mark_retry("h1-d1", T0 + 10, "HTTP 500")
    await outbox.mark_dead("h1-d1", "gave up")
    await outbox.mark_delivered("h1-d2", T0 + 20)
    assert await outbox.redrive("h1-d1", T0 + 30) is True
    redriven = (await outbox.due_deliveries(T0 + 30))[0]
    assert (redriven.id, redriven.state, redriven.attempts, redriven.next_attempt_at) == (
        "h1-d1",
        DeliveryState.PENDING,
        2,
        T0 + 30,
    )
    # Back at the head of its handover's line (it is the oldest pending), ahead of h1-d3.
    assert await due_ids(outbox, T0 + 30) == ["h1-d1", "h2-d1"]


async def test_redrive_only_dead_deliveries(outbox: Store) -> None:
    assert await outbox.redrive("h1-d1", T0) is False
    await outbox.mark_delivered("h1-d1", T0)
    assert await outbox.redrive("h1-d1", T0) is False
    assert await outbox.redrive("no-such-delivery", T0) is False


async def test_a_late_report_does_not_change_a_settled_delivery(outbox: Store) -> None:
    await outbox.mark_delivered("h1-d1", T0 + 1)
    await outbox.mark_retry("h1-d1", T0 + 60, "late failure")
    await outbox.mark_dead("h1-d1", "late failure")
    settled = (await outbox.deliveries_after("h1", 0))[0]
    assert (settled.state, settled.attempts, settled.last_error) == (DeliveryState.DELIVERED, 1, None)


async def test_marking_an_unknown_delivery_is_key_error(outbox: Store) -> None:
    with pytest.raises(KeyError):
        await outbox.mark_delivered("nope", T0)
    with pytest.raises(KeyError):
        await outbox.mark_retry("nope", T0, "x")
    with pytest.raises(KeyError):
        await outbox.mark_dead("nope", "x")


async def test_due_respects_limit(outbox: Store) -> None:
    assert len(await outbox.due_deliveries(T0, limit=1)) == 1


async def test_list_deliveries_oldest_first_by_state(outbox: Store) -> None:
    await outbox.mark_delivered("h2-d1", T0)
    everything = await outbox.list_deliveries()
    assert [d.id for d in everything] == ["h1-d1", "h2-d1", "h1-d2", "h2-d2", "h1-d3", "h2-d3"]
    assert [d.id for d in await outbox.list_deliveries(DeliveryState.DELIVERED)] == ["h2-d1"]
    assert [d.id for d in await outbox.list_deliveries(DeliveryState.PENDING, limit=2)] == ["h1-d1", "h1-d2"]


async def test_deliveries_after_replays_one_handover_in_order(outbox: Store) -> None:
    await outbox.mark_delivered("h1-d1", T0)
    await outbox.mark_dead("h1-d2", "gave up")
    replay = await outbox.deliveries_after("h1", 0)
    assert [(d.id, d.state) for d in replay] == [
        ("h1-d1", DeliveryState.DELIVERED),
        ("h1-d2", DeliveryState.DEAD),
        ("h1-d3", DeliveryState.PENDING),
    ]
    assert [d.id for d in await outbox.deliveries_after("h1", replay[0].seq)] == ["h1-d2", "h1-d3"]
    assert [d.id for d in await outbox.deliveries_after("h1", replay[0].seq, limit=1)] == ["h1-d2"]
    assert await outbox.deliveries_after("h1", replay[-1].seq) == []


async def test_many_acknowledged_heads_are_settled_in_one_write(outbox: Store) -> None:
    await outbox.mark_dead("h2-d1", "gave up")
    # h2-d1 is dead and "gone" was never stored: both are left alone, the pending ones settled.
    await outbox.mark_delivered_many([("h1-d1", T0 + 1), ("h2-d1", T0 + 2), ("gone", T0 + 3), ("h2-d2", T0 + 4)])
    settled = {d.id: d for d in await outbox.list_deliveries()}
    assert [(d.state, d.attempts, d.delivered_at) for d in (settled["h1-d1"], settled["h2-d2"])] == [
        (DeliveryState.DELIVERED, 1, T0 + 1),
        (DeliveryState.DELIVERED, 1, T0 + 4),
    ]
    assert (settled["h2-d1"].state, settled["h2-d1"].attempts) == (DeliveryState.DEAD, 1)
    assert await due_ids(outbox, T0 + 4) == ["h1-d2", "h2-d3"]  # each line moved on
    # Marked again (a pass repeated after a lost answer), nothing changes: no attempt counted twice.
    await outbox.mark_delivered_many([("h1-d1", T0 + 9)])
    again = (await outbox.deliveries_after("h1", 0))[0]
    assert (again.attempts, again.delivered_at) == (1, T0 + 1)
