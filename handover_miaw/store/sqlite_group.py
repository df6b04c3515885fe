"""Group commit for the SQLite engine's hot writes (an agent event recorded, deliveries marked delivered).

Each of those was a transaction of its own, and at fan-in the commits were the engine's largest cost: a
commit appends every page the write touched to the WAL, and the writes of one burst of events touch the
same pages (the deliveries table and its indexes, the processed entries). So the writes that arrive in one
turn of the event loop are queued, and the next turn runs them in one BEGIN IMMEDIATE transaction, each
inside a savepoint of its own: one write's failure (a stale guard, a duplicate, a missing handover) is
rolled back to its savepoint and reported to its caller alone, while the others still commit. Every caller
learns its own outcome, and only after the commit: nothing is acknowledged that a crash could undo.

A caller cancelled before its turn comes has its write dropped, as a call still waiting for the lock was
before. The writes run under the engine's lock like any other statement; when the upkeep holds it (a
TRUNCATE checkpoint in a thread), the batch waits for it as a coroutine and whatever arrives meanwhile joins.
When SQLite ends the transaction by itself (a full disk, an I/O error), no write of the batch is stored,
and each caller gets that error.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["GroupCommit", "in_transaction"]

T = TypeVar("T")

_Write = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]


def in_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` in one BEGIN IMMEDIATE transaction, on the connection's own thread; roll back on failure."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return result


class GroupCommit:
    """Queues writes and commits each loop turn's together (see the module docstring)."""

    def __init__(self, lock: asyncio.Lock, connection: Callable[[], sqlite3.Connection]) -> None:
        """`lock` is the engine's; `connection` returns its open connection (or raises when it is closed)."""
        self._lock = lock
        self._connection = connection
        self._queue: list[_Write] = []
        self._scheduled = False
        self._waiting: set[asyncio.Task[None]] = set()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in the next shared transaction; its result, or what it raised, once that committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((work, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush_soon)
        return await future

    def _flush_soon(self) -> None:
        if not self._lock.locked():
            # Run at once: the body does not yield, so nothing else can use the connection meanwhile.
            self._flush()
            return
        task = asyncio.get_running_loop().create_task(self._flush_when_free())
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    async def _flush_when_free(self) -> None:
        try:
            async with self._lock:
                self._flush()
        except asyncio.CancelledError:
            # The loop is shutting down: no write of the queue was made.
            queued, self._queue, self._scheduled = self._queue, [], False
            for _, future in queued:
                future.cancel()
            raise

    def _flush(self) -> None:
        queued, self._queue, self._scheduled = self._queue, [], False
        batch = [(work, future) for work, future in queued if not future.done()]
        if not batch:
            return
        try:
            outcomes = _commit(self._connection(), [work for work, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():  # cancelled meanwhile: there is no one to tell
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


def _commit(conn: sqlite3.Connection, works: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
    """Run `works` in one transaction, each in a savepoint; each one's (succeeded, result or exception)."""
    if len(works) == 1:  # no other write to shield: the transaction's own rollback is enough
        try:
            return [(True, in_transaction(conn, works[0]))]
        except Exception as exc:
            return [(False, exc)]
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for work in works:
            conn.execute("SAVEPOINT grouped")
            try:
                outcomes.append((True, work(conn)))
            except Exception as exc:
                if not conn.in_transaction:
                    raise  # SQLite rolled the whole transaction back: the earlier writes are gone too
                conn.execute("ROLLBACK TO grouped")
                outcomes.append((False, exc))
            conn.execute("RELEASE grouped")
        conn.commit()
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return outcomes
