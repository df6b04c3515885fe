"""SQLite stays bounded (issue 12, point 8): the WAL is brought back under its limit, and ended handovers
are purged with everything they hold after the retention horizon, as the Redis engine expires them."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import threading
from pathlib import Path

import pytest

from handover_miaw import tasks
from handover_miaw.store import SqliteStore
from handover_miaw.store.records import ConnectorRecord, HandoverState, Retention
from handover_miaw.store.sqlite_upkeep import Upkeep, wal_bytes
from tests.store.factories import T0, Clock, handover, new_delivery
from tests.waiting import wait_for

DAY = 86400.0


async def test_a_wal_grown_past_its_limit_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    limit = 256 * 1024
    store = SqliteStore(path, checkpoint_interval_s=0.02, wal_limit_bytes=limit)
    await store.open()
    try:
        # A reader that keeps an old snapshot (an admin tool, a backup) stops every checkpoint short of
        # it, so the WAL grows, as it did under load in the soak (2.6 GB). Before the bound, the file kept
        # that size for as long as the process ran.
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM connectors").fetchall()
        for n in range(40):
            await store.put_connector(ConnectorRecord(f"c{n}", {"blob": "x" * 50_000}, {}, 0.0))
        grown = wal_bytes(path)
        assert grown > 8 * limit
        reader.execute("COMMIT")
        reader.close()
        await wait_for(lambda: wal_bytes(path) <= limit, "the WAL under its limit", seconds=10)
        assert len(await store.list_connectors()) == 40
    finally:
        await store.close()


async def _ended(store: SqliteStore, hid: str, ended_at: float) -> None:
    await store.create_handover(handover(hid, state=HandoverState.ENDED, created_at=ended_at - 60, ended_at=ended_at))
    await store.record_event(hid, "e1", {}, [new_delivery(f"{hid}-d1", hid)])
    await store.mark_user_message_sent(hid, "m1", f"miaw-{hid}")


def _rows(path: Path, hid: str) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [
            conn.execute(f"SELECT COUNT(*) FROM {table} WHERE handover_id = ?", (hid,)).fetchone()[0]  # noqa: S608
            for table in ("processed_entries", "user_messages", "deliveries")
        ]


async def test_ended_handovers_are_purged_after_retention_dead_letters_after_theirs(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    clock = Clock(T0)
    store = SqliteStore(path, clock=clock, retention=Retention(ended_s=7 * DAY, dead_s=30 * DAY))
    await store.open()
    try:
        old = T0 - 8 * DAY
        await _ended(store, "gone", old)
        await store.mark_delivered("gone-d1", old)
        await _ended(store, "pending", old)  # its delivery is still pending: kept
        await _ended(store, "recent", T0 - 1 * DAY)
        await store.mark_delivered("recent-d1", T0)
        await store.create_handover(handover("live", state=HandoverState.ACTIVE, created_at=old))
        await _ended(store, "dead", old)
        await store.mark_dead("dead-d1", "HTTP 410")  # a dead letter younger than 30 days: kept
        for n in range(250):  # many batches
            await store.create_handover(handover(f"bulk{n}", state=HandoverState.ENDED, created_at=old, ended_at=old))
        assert _rows(path, "gone") == [1, 1, 1]

        assert await store.purge() == 251
        remaining = {h.id for h in await store.list_handovers(limit=1000)}
        assert remaining == {"pending", "recent", "live", "dead"}
        assert _rows(path, "gone") == [0, 0, 0]
        assert _rows(path, "dead") == [1, 1, 1]

        # A re-driven dead letter that is then delivered frees its handover.
        assert await store.redrive("dead-d1", T0)
        await store.mark_delivered("dead-d1", T0)
        assert await store.purge() == 1
        # A dead letter past its own horizon goes with its handover.
        await store.mark_dead("pending-d1", "HTTP 410")
        clock.now = T0 + 31 * DAY
        assert await store.purge() == 2  # "pending" (its dead letter is 31 days old) and "recent"
        assert {h.id for h in await store.list_handovers(limit=1000)} == {"live"}
    finally:
        await store.close()


async def test_the_upkeep_purges_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(
        path, clock=Clock(T0), checkpoint_interval_s=0.02, purge_interval_s=0.05, retention=Retention(ended_s=DAY)
    )
    await store.open()
    try:
        await _ended(store, "old", T0 - 2 * DAY)
        await store.mark_delivered("old-d1", T0)
        await wait_for(lambda: _rows(path, "old") == [0, 0, 0], "the purge", seconds=10)
    finally:
        await store.close()


async def test_steady_writes_keep_the_wal_under_its_limit_without_emptying_it(
    tmp_path: Path, log_output: io.StringIO
) -> None:
    # Under writes that never pause, passive checkpoints alone never let SQLite rewind the WAL; the upkeep
    # copies the rest under the store's lock at half the limit, and the next write rewinds it.
    path = tmp_path / "store.db"
    limit = 512 * 1024
    store = SqliteStore(path, checkpoint_interval_s=0.02, wal_limit_bytes=limit)
    await store.open()
    largest = 0

    async def write_steadily() -> None:
        nonlocal largest
        n = 0
        while True:
            await store.put_connector(ConnectorRecord(f"c{n % 20}", {"blob": "x" * 4_000}, {}, 0.0))
            largest = max(largest, wal_bytes(path))
            n += 1
            await asyncio.sleep(0)

    writer = asyncio.get_running_loop().create_task(write_steadily())
    try:
        await wait_for(lambda: log_output.getvalue().count("store.wal_rewinding") >= 3, "three rewinds", seconds=20)
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await store.close()
    assert largest <= limit
    assert "store.wal_truncated" not in log_output.getvalue()


async def test_an_upkeep_failing_every_round_logs_once_then_again_after_it_recovered(
    tmp_path: Path, log_output: io.StringIO
) -> None:
    # On a full disk it logged a traceback every half second, onto the disk that was full. A real failure:
    # SQLite aborts the purge's delete.
    path = tmp_path / "store.db"
    store = SqliteStore(
        path, clock=Clock(T0), checkpoint_interval_s=0.02, purge_interval_s=0.05, retention=Retention(ended_s=DAY)
    )
    await store.open()
    refuse = "CREATE TRIGGER refuse_purge BEFORE DELETE ON handovers BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
    try:
        await _ended(store, "old", T0 - 2 * DAY)
        await store.mark_delivered("old-d1", T0)
        with sqlite3.connect(path) as side:
            side.execute(refuse)
        await wait_for(lambda: "store.upkeep_failed" in log_output.getvalue(), "the first failure")
        rounds = asyncio.get_running_loop().time() + 0.5  # ten purge rounds, each failing
        await wait_for(lambda: asyncio.get_running_loop().time() > rounds, "ten more rounds")
        failed = [line for line in log_output.getvalue().splitlines() if "store.upkeep_failed" in line]
        assert len(failed) == 1, failed
        assert '"suppressed": 0' in failed[0]
        assert "disk is full" in failed[0]  # the first one with its traceback
        with sqlite3.connect(path) as side:
            side.execute("DROP TRIGGER refuse_purge")
        await wait_for(lambda: _rows(path, "old") == [0, 0, 0], "the purge once it can")
        with sqlite3.connect(path) as side:
            side.execute(refuse)
        await _ended(store, "older", T0 - 3 * DAY)
        await store.mark_delivered("older-d1", T0)
        await wait_for(lambda: log_output.getvalue().count("store.upkeep_failed") == 2, "a new trouble, told at once")
    finally:
        await store.close()


async def test_a_repeated_cancel_does_not_cut_the_wait_for_the_upkeep_s_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tasks.stop cancels again when a cancel seems lost; the upkeep's wait for its thread (a checkpoint, a
    # purge: closing the connection under it would crash the process) ended at the second cancel.
    monkeypatch.setattr(tasks, "RECANCEL_S", 0.01)
    sqlite3.connect(tmp_path / "s.db").close()
    upkeep = Upkeep(tmp_path / "s.db", asyncio.Lock())
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def work(_conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)
        finished.append(True)

    job = asyncio.ensure_future(upkeep._in_thread(work))
    try:
        await wait_for(started.is_set, "the thread to start")
        stopping = asyncio.ensure_future(tasks.stop(job))
        await wait_for(lambda: job.cancelling() >= 3, "stop to cancel the job again")
        assert not stopping.done(), "stopped while the upkeep's thread still ran"
        assert not finished
    finally:
        release.set()
    await asyncio.wait({stopping}, timeout=10)
    assert stopping.done()
    assert finished == [True]
    assert job.cancelled()


async def test_the_upkeep_does_not_wait_for_the_loop_s_shared_threads(tmp_path: Path) -> None:
    # Delivery targets are resolved in the loop's shared thread pool; names whose DNS hung filled it, and the
    # upkeep, waiting there for a thread while it held the store's lock, held every store call for 37 s.
    store = SqliteStore(tmp_path / "store.db", clock=Clock(T0 + 10 * DAY))
    await store.open()
    release = threading.Event()
    loop = asyncio.get_running_loop()
    hung = [loop.run_in_executor(None, release.wait) for _ in range(64)]  # more than the pool's threads
    try:
        async with asyncio.timeout(5):
            assert await store.purge() == 0
            await store.put_connector(ConnectorRecord("acme", {}, {}, T0))
    finally:
        release.set()
        await asyncio.gather(*hung)
        await store.close()
