"""Background upkeep of the SQLite file: WAL checkpoints, a bound on the WAL, and retention.

All of it runs on a connection of its own in a worker thread (sqlite3 releases the GIL while it works),
never on the event loop:

- Every interval, a PASSIVE checkpoint copies the WAL into the database. SQLite's automatic checkpoint
  would run inside whichever commit crosses 1,000 WAL pages, and the hot path commits inline on the loop
  (see SqliteConnection._transact): that commit copied the WAL's megabytes and synced on the loop, and nothing
  else ran meanwhile (`python -m bench start`: the p99 outliers). PASSIVE waits for no reader or writer.
- PASSIVE alone does not bound the WAL: the file is only rewound when a writer finds every frame copied,
  and under steady writes new frames land while each checkpoint runs, so it never is (in a soak the WAL
  grew for as long as it ran). So when the frames since the last rewind pass half of `wal_limit_bytes`,
  one more PASSIVE runs while it holds the engine's asyncio lock (store calls wait as coroutines while the
  loop goes on): with no write in between it copies the few frames the previous one left, and the next
  write rewinds the WAL, which SQLite then cuts to `journal_size_limit` (the limit). That holds the store
  for a copy of about one interval's frames; emptying the file with a TRUNCATE under the lock every time
  instead held it 35 to 63 ms at 500 events/s, mostly to give the file's blocks back (`python -m bench fanin`:
  the p99 at 500/s). A file grown past the limit all the same (a reader of another process held the
  checkpoints back, a burst) is emptied with a TRUNCATE checkpoint under the lock.
- Retention, as the Redis engine's key expiry: an ended handover with nothing pending is deleted with its
  processed entries, user messages and deliveries (foreign keys cascade) once it has been ended for
  `retention.ended_s`, unless one of its dead letters is younger than `retention.dead_s` (dead letters
  wait for a re-drive that long). Deletes go `batch` handovers per transaction, each under the lock, with
  the loop free between batches.

A worker thread cannot be stopped: when the task is cancelled mid-call it waits for the call to return
before the connection is closed, because closing it under a running checkpoint crashes the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import structlog

from handover_miaw.store.records import Retention
from handover_miaw.throttle import LogThrottle

__all__ = ["Upkeep", "wal_bytes"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

_BUSY_MS = 1000
_TRUNCATE_BUSY_MS = 100
# After a TRUNCATE held back by a reader, wait this many checkpoint intervals before the next try.
_HOLD_OFF_ROUNDS = 20

# Ended handovers that may go: past their horizon, nothing pending, no dead letter still within its own.
_PURGEABLE = """
    SELECT id FROM handovers AS h
    WHERE state = 'ended' AND created_at < :cutoff AND COALESCE(ended_at, updated_at) < :cutoff
      AND NOT EXISTS (
        SELECT 1 FROM deliveries AS d
        WHERE d.handover_id = h.id AND (d.state = 'pending' OR (d.state = 'dead' AND d.created_at >= :dead_cutoff))
      )
    LIMIT :batch
"""


def wal_bytes(path: Path | str) -> int:
    """The size of the database's WAL file (0 when there is none)."""
    try:
        return os.path.getsize(f"{path}-wal")
    except OSError:
        return 0


def _connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")  # the purge's cascades
    # As the engine's connection (sqlite_schema.PRAGMAS): the default, FULL, syncs the WAL at every purge
    # commit, which held the store for a sync per batch on a busy disk (the soak's latency outliers).
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")  # another process's write lock; our own never (the lock)
    return conn


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int]:
    """A PASSIVE checkpoint; the bytes of WAL frames written since the WAL was last rewound, and of those
    it has not copied into the database (another connection's reader holds them back)."""
    _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return max(int(frames), 0) * page_size, max(int(frames) - int(copied), 0) * page_size


def _truncate(conn: sqlite3.Connection) -> bool:
    """A TRUNCATE checkpoint; False when a reader (another process) held it back.

    It waits for readers only briefly: the engine's lock is held meanwhile, and a reader that pins an old
    snapshot for long would otherwise hold every store call back with it.
    """
    conn.execute(f"PRAGMA busy_timeout = {_TRUNCATE_BUSY_MS}")
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
    return bool(busy == 0)


def _purge_batch(conn: sqlite3.Connection, cutoff: float, dead_cutoff: float, batch: int) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        ids = [
            row[0] for row in conn.execute(_PURGEABLE, {"cutoff": cutoff, "dead_cutoff": dead_cutoff, "batch": batch})
        ]
        conn.executemany("DELETE FROM handovers WHERE id = ?", [(i,) for i in ids])
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return len(ids)


class Upkeep:
    """The upkeep task of one SqliteStore (see the module docstring)."""

    def __init__(
        self,
        path: Path | str,
        lock: asyncio.Lock,
        *,
        clock: Callable[[], float] = time.time,
        checkpoint_interval_s: float = 0.5,
        wal_limit_bytes: int = 64 * 1024 * 1024,
        retention: Retention | None = None,
        purge_interval_s: float = 60.0,
        batch: int = 25,
    ) -> None:
        """`lock` is the engine's: held while the upkeep writes or truncates, so the engine never busy-waits.

        `batch`: handovers deleted per transaction. Each holds the store for its duration, and each handover
        has its deliveries, entries and messages: larger batches showed as latency outliers in
        `python -m bench soak` on a loaded machine, hence a small one.
        """
        self._path = path
        self._lock = lock
        self._clock = clock
        self._interval_s = checkpoint_interval_s
        self._wal_limit = wal_limit_bytes
        self._retention = retention or Retention()
        self._purge_interval_s = purge_interval_s
        self._batch = batch
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None  # the upkeep's own (see _in_thread)
        self._conn_busy = asyncio.Lock()  # one call at a time on the upkeep's connection
        self._truncate_after = 0.0

    async def run(self) -> None:
        """Checkpoint every interval, truncate past the limit, purge every purge interval; until cancelled.

        The loop outlives any one failure (a busy database, a full disk): the WAL keeps the data and the
        next round tries again, and a loop that stopped would let the WAL grow without bound.
        """
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        failures = LogThrottle()
        try:
            while True:
                await asyncio.sleep(self._interval_s)
                await self._attempt("checkpoint", self._checkpoint_and_bound, failures)
                if loop.time() >= next_purge:
                    next_purge = loop.time() + self._purge_interval_s
                    await self._attempt("purge", self.purge, failures)
        finally:
            # Not while a call (a purge() of the store's own) still runs on it in a thread: see above.
            async with self._conn_busy:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                if self._thread is not None:
                    self._thread.shutdown(wait=False)
                    self._thread = None

    async def bound_wal(self, written: int | None = None) -> bool:
        """Keep the WAL within its limit (see the module docstring); True when a checkpoint under the lock
        ran. `written`: the bytes of frames since the last rewind, as the last PASSIVE checkpoint said."""
        before = wal_bytes(self._path)
        loop = asyncio.get_running_loop()
        if loop.time() < self._truncate_after:
            return False  # a reader of another process holds the WAL: nothing can be rewound or emptied yet
        if before > self._wal_limit:
            return await self._truncate(before)
        if written is None or written <= self._wal_limit // 2:
            return False
        async with self._lock:
            started = time.perf_counter()
            _, left = await self._in_thread(_checkpoint)
            held_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("store.wal_rewinding", wal_frame_bytes=written, lock_held_ms=held_ms, left_bytes=left)
        return True

    async def _truncate(self, before: int) -> bool:
        loop = asyncio.get_running_loop()
        async with self._lock:
            started = time.perf_counter()
            done = await self._in_thread(_truncate)
            held_ms = round((time.perf_counter() - started) * 1000, 1)
        if not done:
            self._truncate_after = loop.time() + _HOLD_OFF_ROUNDS * self._interval_s
            log.warning(
                "store.wal_truncate_held_back", wal_bytes=before, detail="another connection reads an old snapshot"
            )
            return False
        log.info("store.wal_truncated", wal_bytes=before, after=wal_bytes(self._path), lock_held_ms=held_ms)
        return True

    async def _checkpoint_and_bound(self) -> None:
        written, _ = await self._in_thread(_checkpoint)
        await self.bound_wal(written)

    async def _attempt(self, step: str, work: Callable[[], Awaitable[object]], failures: LogThrottle) -> None:
        """Run one step of a round; a failure is logged, its first with the traceback, then a line a minute per
        step saying how many it stands for (on a full disk it was a traceback every half second, onto that
        disk), until the step succeeds again."""
        now = asyncio.get_running_loop().time()
        try:
            await work()
        except Exception:
            if (suppressed := failures.admit(step, now)) is not None:
                log.error("store.upkeep_failed", step=step, suppressed=suppressed, exc_info=suppressed == 0)
        else:
            failures.forget(step)

    async def purge(self) -> int:
        """Delete what retention allows, a batch per transaction; how many handovers went."""
        now = self._clock()
        cutoff, dead_cutoff = now - self._retention.ended_s, now - self._retention.dead_s
        total = batches = 0
        longest = 0.0
        while True:
            async with self._lock:
                started = time.perf_counter()
                done = await self._in_thread(lambda conn: _purge_batch(conn, cutoff, dead_cutoff, self._batch))
                longest = max(longest, time.perf_counter() - started)
            total += done
            batches += 1
            if done < self._batch:
                break
            await asyncio.sleep(0)  # let the loop run between batches
        if total:
            log.info("store.purged", handovers=total, batches=batches, lock_held_ms_max=round(longest * 1000, 1))
        return total

    async def _in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._conn_busy:
            if self._conn is None:
                self._conn = _connect(self._path)
            if self._thread is None:
                # A thread of its own, not the loop's shared pool: this runs under the store's lock, and names
                # whose DNS hung filled that pool (delivery targets are resolved there): the store waited 37 s.
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-upkeep")
            task = asyncio.get_running_loop().run_in_executor(self._thread, work, self._conn)
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                # A thread cannot be stopped: closing the connection under it would crash the process. So
                # the wait outlasts any further cancel (tasks.stop repeats one that seems lost).
                while not task.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait([task])
                raise
