"""The SQLite engine's group commit: the hot writes of one loop turn share a transaction, and each caller
still learns its own outcome, only once it is committed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from handover_miaw.store import DuplicateHandoverError, SqliteStore, StaleRecordError
from handover_miaw.store.records import HandoverState
from tests.store.factories import T0, Clock, handover, new_delivery
from tests.waiting import wait_for


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An opened SQLite store with a settable clock."""
    store = SqliteStore(tmp_path / "store.db", clock=Clock())
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def trace_commits(store: SqliteStore, watched: list[asyncio.Task[Any]]) -> list[bool]:
    """At every COMMIT on the store's connection, whether any of `watched` had already finished."""
    seen: list[bool] = []

    def trace(statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            seen.append(any(task.done() for task in watched))

    store._connection().set_trace_callback(trace)
    return seen


async def test_each_writer_of_a_shared_transaction_gets_its_own_outcome(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    for ident in ("h1", "h2", "h3", "h4"):
        await store.create_handover(handover(ident))
    await store.create_handover(handover("h5", session_id="session-h4", state=HandoverState.ENDED))
    assert await store.record_event("h2", "seen", {}, [])
    await store.record_event("h1", None, {}, [new_delivery("d0")])
    (d0,) = await store.due_deliveries(T0 + 1)

    calls = [
        store.record_event("h1", "e1", {"agent_name": "Ada"}, [new_delivery("d1")]),
        store.record_event("h2", "seen", {"agent_name": "Bob"}, [new_delivery("d2", "h2")]),  # a duplicate
        store.record_event("h3", "e3", {}, [new_delivery("d3", "h3")], expected_updated_at=T0 - 1),  # stale
        store.record_event("h9", "e9", {}, []),  # no such handover
        # Reviving h5 while h4 is live on its session fails after its entry was marked processed.
        store.record_event("h5", "e5", {"state": HandoverState.ACTIVE}, [new_delivery("d5", "h5")]),
        store.mark_delivered_many([(d0.id, T0 + 2)]),
    ]
    tasks = [asyncio.ensure_future(call) for call in calls]
    commits = trace_commits(store, tasks)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert commits == [False]  # one transaction for all six, committed before anyone was answered
    assert outcomes[0] is True
    assert outcomes[1] is False
    assert isinstance(outcomes[2], StaleRecordError)
    assert isinstance(outcomes[3], KeyError)
    assert isinstance(outcomes[4], DuplicateHandoverError)
    assert outcomes[5] is None
    h1, h2 = await store.get_handover("h1"), await store.get_handover("h2")
    assert h1 is not None
    assert h1.agent_name == "Ada"
    assert h2 is not None
    assert h2.agent_name is None
    delivered = await store.list_deliveries()
    assert [(d.id, d.state.value) for d in delivered] == [("d0", "delivered"), ("d1", "pending")]
    # The failed writes left nothing behind, not even the processed mark h5's write made before it failed.
    assert await store.record_event("h3", "e3", {}, [])
    assert await store.record_event("h5", "e5", {}, [])


async def test_a_failure_that_ends_the_transaction_fails_every_writer(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    await store.create_handover(handover("h1"))

    def ended_by_sqlite(conn: sqlite3.Connection) -> None:
        # As SQLite does on a full disk or an I/O error: the whole transaction is rolled back.
        conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    first = asyncio.ensure_future(store.record_event("h1", "e1", {"agent_name": "Ada"}, [new_delivery("d1")]))
    failing = asyncio.ensure_future(store._grouped(ended_by_sqlite))
    last = asyncio.ensure_future(store.record_event("h1", "e2", {}, [new_delivery("d2")]))
    outcomes = await asyncio.gather(first, failing, last, return_exceptions=True)

    assert all(isinstance(outcome, sqlite3.OperationalError) for outcome in outcomes)
    stored = await store.get_handover("h1")
    assert stored is not None
    assert stored.agent_name is None
    assert await store.list_deliveries() == []
    # The connection is usable again, and neither entry was marked processed.
    assert await store.record_event("h1", "e1", {}, [])
    assert await store.record_event("h1", "e2", {}, [])


async def test_writes_wait_for_a_held_lock_together_and_a_cancelled_one_is_not_made(
    sqlite_store: SqliteStore,
) -> None:
    store = sqlite_store
    await store.create_handover(handover("h1"))
    await store.create_handover(handover("h2"))
    async with store._lock:  # as the upkeep holds it during a TRUNCATE checkpoint
        cancelled = asyncio.ensure_future(store.record_event("h1", "e1", {"agent_name": "Ada"}, []))
        await wait_for(lambda: len(store._group._queue) == 1, "the first write queued")
        cancelled.cancel()
        kept = asyncio.ensure_future(store.record_event("h2", "e2", {"agent_name": "Bob"}, []))
        await wait_for(lambda: len(store._group._queue) == 2, "the second write queued")
        assert not kept.done()
    assert await kept is True
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    h1, h2 = await store.get_handover("h1"), await store.get_handover("h2")
    assert h1 is not None
    assert h1.agent_name is None
    assert h2 is not None
    assert h2.agent_name == "Bob"
    assert await store.record_event("h1", "e1", {}, [])  # not marked processed
