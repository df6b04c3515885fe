"""Handovers: create, read, find the live one, list, update, and one live handover per session."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from handover_miaw.store import DuplicateHandoverError, Store
from handover_miaw.store.records import HandoverState
from tests.store.factories import T0, Clock, handover


async def test_create_then_get_round_trips_every_field(store: Store) -> None:
    record = handover(
        "h1",
        state=HandoverState.ACTIVE,
        last_event_id="evt-9",
        agent_name="Ada",
        queue_position=3,
        estimated_wait_s=120,
        end_status=None,
    )
    await store.create_handover(record)
    got = await store.get_handover("h1")
    assert got == record
    assert got is not None
    assert got.state is HandoverState.ACTIVE


async def test_unknown_handover_is_none(store: Store) -> None:
    assert await store.get_handover("nope") is None
    assert await store.find_live_handover("acme", "nope") is None


async def test_find_live_handover(store: Store) -> None:
    await store.create_handover(handover("old", session_id="s", state=HandoverState.ENDED, ended_at=T0))
    await store.create_handover(handover("live", session_id="s"))
    await store.create_handover(handover("elsewhere", session_id="s", connector="other"))
    found = await store.find_live_handover("acme", "s")
    assert found is not None
    assert found.id == "live"


async def test_duplicate_live_session_is_refused(store: Store) -> None:
    first = handover("h1", session_id="s")
    await store.create_handover(first)
    with pytest.raises(DuplicateHandoverError) as caught:
        await store.create_handover(handover("h2", session_id="s"))
    assert caught.value.existing == first
    assert await store.get_handover("h2") is None


async def test_session_may_hand_over_again_once_ended(store: Store) -> None:
    await store.create_handover(handover("h1", session_id="s"))
    await store.update_handover("h1", {"state": HandoverState.ENDED, "ended_at": T0 + 1})
    await store.create_handover(handover("h2", session_id="s"))
    found = await store.find_live_handover("acme", "s")
    assert found is not None
    assert found.id == "h2"


async def test_racing_creates_for_one_session_make_one_handover(store: Store) -> None:
    results = await asyncio.gather(
        *(store.create_handover(handover(f"h{i}", session_id="s")) for i in range(5)), return_exceptions=True
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(result, DuplicateHandoverError) for result in results if result is not None)
    assert len(await store.list_handovers()) == 1


async def test_reused_handover_id_is_refused(store: Store) -> None:
    await store.create_handover(handover("h1", session_id="s1"))
    with pytest.raises(ValueError, match="h1"):
        await store.create_handover(handover("h1", session_id="s2"))
    assert await store.find_live_handover("acme", "s2") is None


async def test_list_is_newest_first_and_filters_by_state(store: Store) -> None:
    await store.create_handover(handover("a", created_at=T0))
    await store.create_handover(handover("b", created_at=T0 + 2, state=HandoverState.ACTIVE))
    await store.create_handover(handover("c", created_at=T0 + 1, state=HandoverState.ACTIVE))
    assert [h.id for h in await store.list_handovers()] == ["b", "c", "a"]
    assert [h.id for h in await store.list_handovers(state="active")] == ["b", "c"]
    assert [h.id for h in await store.list_handovers(state=HandoverState.ENDED)] == []
    assert [h.id for h in await store.list_handovers(limit=1)] == ["b"]


async def test_live_ids_follow_the_state(store: Store) -> None:
    assert await store.live_handover_ids() == set()
    await store.create_handover(handover("p", session_id="s1"))
    await store.create_handover(handover("q", session_id="s2", state=HandoverState.QUEUED))
    await store.create_handover(handover("a", session_id="s3", state=HandoverState.ACTIVE))
    await store.create_handover(handover("e", session_id="s4", state=HandoverState.ENDED))
    assert await store.live_handover_ids() == {"p", "q", "a"}
    await store.update_handover("q", {"state": HandoverState.ENDED, "ended_at": T0})
    await store.update_handover("p", {"state": HandoverState.ACTIVE})
    assert await store.live_handover_ids() == {"p", "a"}


async def test_update_applies_changes_and_stamps_updated_at(store: Store, clock: Clock) -> None:
    await store.create_handover(handover("h1"))
    clock.now = T0 + 30
    updated = await store.update_handover(
        "h1", {"state": HandoverState.QUEUED, "queue_position": 2, "context": {"k": ["v"]}}
    )
    expected = dataclasses.replace(
        handover("h1"), state=HandoverState.QUEUED, queue_position=2, context={"k": ["v"]}, updated_at=T0 + 30
    )
    assert updated == expected
    assert await store.get_handover("h1") == expected


async def test_update_keeps_an_explicit_updated_at(store: Store) -> None:
    await store.create_handover(handover("h1"))
    updated = await store.update_handover("h1", {"updated_at": T0 + 99})
    assert updated.updated_at == T0 + 99


async def test_update_unknown_handover_is_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.update_handover("nope", {"agent_name": "Ada"})


@pytest.mark.parametrize(
    "changes",
    [
        {"agent_name": "Ada", "no_such_field": 1},
        {"state = 'ended', agent_name": "x"},
        {"id": "h2"},
        {"session_id": "other"},
        {"state": "sleeping"},
        {"user_id": None},
    ],
    ids=["unknown", "injection", "id", "session", "bad-state", "null-required"],
)
async def test_update_rejects_bad_changes_and_changes_nothing(store: Store, changes: dict[str, object]) -> None:
    await store.create_handover(handover("h1"))
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message; the point is nothing changed
        await store.update_handover("h1", changes)
    assert await store.get_handover("h1") == handover("h1")


async def test_reviving_an_ended_handover_beside_a_live_one_is_refused(store: Store) -> None:
    await store.create_handover(handover("old", session_id="s", state=HandoverState.ENDED))
    await store.create_handover(handover("new", session_id="s"))
    with pytest.raises(DuplicateHandoverError) as caught:
        await store.update_handover("old", {"state": HandoverState.ACTIVE})
    assert caught.value.existing.id == "new"
    old = await store.get_handover("old")
    assert old is not None
    assert old.state is HandoverState.ENDED
