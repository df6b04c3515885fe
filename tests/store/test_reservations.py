"""A caller's message is claimed by one sender at a time, on every engine: a reservation is held until
it is sent, released or lapses; a lapsed one is taken over only for the same text."""

from __future__ import annotations

import asyncio

import pytest

from handover_miaw.store import Store
from tests.store.factories import Clock, handover


async def _lapse(clock: Clock) -> None:
    """Let a 1 ms reservation lapse: the SQLite engine reads the store's clock, Redis the server's."""
    clock.now += 1.0
    await asyncio.sleep(0.01)


async def test_one_holder_at_a_time(store: Store) -> None:
    await store.create_handover(handover())
    held, first = await store.reserve_user_message("h1", "c1", "miaw-1", "d1", 30.0)
    assert held
    assert first.miaw_message_id == "miaw-1"
    held, stored = await store.reserve_user_message("h1", "c1", "miaw-other", "d1", 30.0)
    assert not held
    assert stored.state == "reserved"
    assert stored.extra["digest"] == "d1"
    await store.release_user_message("h1", "c1")
    held, _ = await store.reserve_user_message("h1", "c1", "miaw-1", "d1", 30.0)
    assert held
    await store.mark_user_message_sent("h1", "c1", "miaw-1")
    await store.release_user_message("h1", "c1")  # a sent message is kept
    held, sent = await store.reserve_user_message("h1", "c1", "miaw-1", "d2", 30.0)
    assert not held
    assert sent.state == "sent"
    assert sent.extra["digest"] == "d1"
    assert sent.miaw_message_id == "miaw-1"
    with pytest.raises(KeyError):
        await store.reserve_user_message("nope", "c1", "miaw-1", "d1", 30.0)


async def test_a_lapsed_reservation_is_taken_over_for_the_same_text_only(store: Store, clock: Clock) -> None:
    await store.create_handover(handover())
    held, _ = await store.reserve_user_message("h1", "c1", "miaw-1", "d1", 0.001)
    assert held
    await _lapse(clock)
    held, stored = await store.reserve_user_message("h1", "c1", "miaw-2", "d2", 30.0)
    assert not held
    assert stored.extra["digest"] == "d1"
    held, taken = await store.reserve_user_message("h1", "c1", "miaw-2", "d1", 30.0)
    assert held
    assert taken.miaw_message_id == "miaw-1"  # the id stored first is kept
    held, _ = await store.reserve_user_message("h1", "c1", "miaw-1", "d1", 30.0)
    assert not held  # held again, for 30 s


async def test_a_message_marked_sent_keeps_the_digest_of_its_text(store: Store) -> None:
    await store.create_handover(handover())
    await store.mark_user_message_sent("h1", "c1", "miaw-1", "d1")
    await store.mark_user_message_sent("h1", "c1", "miaw-2", "d2")  # a first digest and id are kept
    sent = await store.get_user_message("h1", "c1")
    assert sent is not None
    assert (sent.state, sent.miaw_message_id, sent.extra["digest"]) == ("sent", "miaw-1", "d1")
    held, stored = await store.reserve_user_message("h1", "c1", "miaw-1", "d2", 30.0)
    assert not held
    assert stored.extra["digest"] == "d1"
    await store.mark_user_message_sent("h1", "c2", "miaw-3")
    without = await store.get_user_message("h1", "c2")
    assert without is not None
    assert "digest" not in without.extra


async def test_marks_made_together_each_get_their_own_outcome(store: Store) -> None:
    # On SQLite the marks of one loop turn share a transaction; a mark for a missing handover fails alone.
    await store.create_handover(handover())
    outcomes = await asyncio.gather(
        store.mark_user_message_sent("h1", "c1", "miaw-1", "d1"),
        store.mark_user_message_sent("nope", "c2", "miaw-2", "d2"),
        store.mark_user_message_sent("h1", "c3", "miaw-3", "d3"),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], KeyError)
    for client_id, miaw_id in (("c1", "miaw-1"), ("c3", "miaw-3")):
        stored = await store.get_user_message("h1", client_id)
        assert stored is not None
        assert (stored.state, stored.miaw_message_id) == ("sent", miaw_id)
