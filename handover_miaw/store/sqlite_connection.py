"""The SQLite engine's connection: one SQLite file in WAL mode, with its lifecycle (open, migrate, close,
health) and the plumbing every part of the engine runs its statements through.

One connection serves the whole process, through one path: it is opened, migrated and closed on a worker
thread (those can take long), and every statement runs inline on the loop (`_transact` says why and what it
costs). An asyncio lock serialises every operation on it, so a coroutine never reads another coroutine's
half-done transaction, and every write is one `BEGIN IMMEDIATE` transaction (the hot writes of one loop turn
share one, each in a savepoint of its own: sqlite_group): it takes SQLite's write lock up front, so a check
made inside it (is this entry processed? is this session live?) still holds when the write lands, even
against another process using the same file. Any exception rolls the write back: bad input leaves the store
as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog

from handover_miaw.store.durability import Durability, sqlite_durability
from handover_miaw.store.records import Retention
from handover_miaw.store.sqlite_group import GroupCommit, in_transaction
from handover_miaw.store.sqlite_schema import MIGRATIONS, PRAGMAS, SCHEMA_VERSION
from handover_miaw.store.sqlite_upkeep import Upkeep
from handover_miaw.tasks import stop

__all__ = ["SqliteConnection"]

log = structlog.get_logger(__name__)


T = TypeVar("T")


def _connect(path: Path | str, wal_limit_bytes: int) -> sqlite3.Connection:
    """Open the file, set the pragmas and bring the schema to SCHEMA_VERSION (on a worker thread)."""
    # isolation_level=None: no implicit transactions; every write opens its own BEGIN IMMEDIATE.
    # check_same_thread=False: opened here, used inline on the loop's thread (see `_transact`).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        # Commits never checkpoint: the upkeep does it on a connection and thread of its own.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        # When SQLite rewinds the WAL by itself it also shrinks the file to this size.
        conn.execute(f"PRAGMA journal_size_limit = {int(wal_limit_bytes)}")
        # Off while migrating, as SQLite's procedure for changing a table asks (it cannot change inside a
        # transaction): a migration that copies a table must keep the rows it finds, and one whose handover
        # was deleted by hand (the sqlite3 shell enforces no foreign keys) would otherwise stop the start.
        conn.execute("PRAGMA foreign_keys = OFF")
        started = time.perf_counter()
        migrated_from = in_transaction(conn, _migrate)
        conn.execute("PRAGMA foreign_keys = ON")
        if migrated_from:  # a new file is not news; an upgrade that copies a table takes a while, and says so
            log.info("store.migrated", from_version=migrated_from, to_version=SCHEMA_VERSION,
                     seconds=round(time.perf_counter() - started, 3))  # fmt: skip
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; the version the file had, 0 when it was new or already current."""
    # The version is read inside the write transaction, so two processes opening a new file at once
    # cannot both apply the same migration.
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"store schema version {version} is newer than this runtime's {SCHEMA_VERSION}")
    if version == SCHEMA_VERSION:
        return 0
    for statements in MIGRATIONS[version:]:
        for statement in statements:
            conn.execute(statement)
    # An int we computed, not input: PRAGMA takes no bound parameters.
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
    return version


class SqliteConnection:
    """One process's connection to an SQLite file (WAL), created and migrated on open(); the engine's parts
    (SqliteStore and its mixins) run every statement through it."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        checkpoint_interval_s: float = 0.5,
        wal_limit_bytes: int = 64 * 1024 * 1024,
        retention: Retention | None = None,
        purge_interval_s: float = 60.0,
    ) -> None:
        """Remember where the file is; `clock` stamps created/updated times (tests pass a fixed one).

        The WAL is copied into the database every `checkpoint_interval_s` and emptied past
        `wal_limit_bytes`; ended handovers are purged per `retention` every `purge_interval_s` (sqlite_upkeep).
        """
        self._path = path
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._wal_limit_bytes = wal_limit_bytes
        self._upkeep = Upkeep(
            path,
            self._lock,
            clock=clock,
            checkpoint_interval_s=checkpoint_interval_s,
            wal_limit_bytes=wal_limit_bytes,
            retention=retention,
            purge_interval_s=purge_interval_s,
        )
        self._checkpointer: asyncio.Task[None] | None = None
        self._group = GroupCommit(self._lock, self._connection)

    # Lifecycle

    async def open(self) -> None:
        """Connect, set the pragmas and bring the schema to SCHEMA_VERSION."""
        if self._db is not None:
            return
        _private_files(self._path)
        # A new file's migration, or waiting for another process's write lock, must not block the loop.
        self._db = await asyncio.to_thread(_connect, self._path, self._wal_limit_bytes)
        _private_files(self._path)  # the -wal and -shm files exist now (SQLite gives them the file's mode)
        self._checkpointer = asyncio.get_running_loop().create_task(self._upkeep.run(), name="sqlite-upkeep")

    async def close(self) -> None:
        """Close the connection; open() may be called again."""
        if self._checkpointer is not None:
            await stop(self._checkpointer)
            self._checkpointer = None
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                # The last connection to close checkpoints the WAL: a copy of megabytes, off the loop.
                await asyncio.to_thread(db.close)

    async def durability(self) -> Durability:
        """What a restart would lose: nothing committed (WAL)."""
        return sqlite_durability()

    async def purge(self) -> int:
        """Delete now what retention allows (the upkeep also does it every purge interval); how many
        handovers went."""
        return await self._upkeep.purge()

    async def bound_wal(self) -> bool:
        """Empty the WAL now if it is past its limit (the upkeep also checks every checkpoint interval)."""
        return await self._upkeep.bound_wal()

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        async with self._lock:
            if self._db is None:
                return False
            try:
                rows = self._db.execute("SELECT 1").fetchall()
            except sqlite3.Error:
                return False
            return rows == [(1,)]

    async def probe_write(self) -> bool:
        """True when a write transaction commits. Rewriting the schema version changes nothing, but it is a
        real write (a page appended to the WAL), so a full disk or a read-only file answers False."""

        def work(conn: sqlite3.Connection) -> None:
            # An int we computed, not input: PRAGMA takes no bound parameters.
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

        try:
            await self._transact(work)
        except (sqlite3.Error, RuntimeError):
            return False
        return True

    # Plumbing

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    # The hot path (every message, event and delivery) runs inline on the event loop, each operation one
    # statement or one short transaction: WAL with synchronous=NORMAL does not fsync on commit, so one is
    # cheap, while a trip to a worker thread costs more than the statement (queue, wake-up, GIL hand-over
    # back to a busy loop) and the lock serialised those trips: inline, the runtime relays messages
    # (`python -m bench relay`) and takes in events (`fanin`) several times faster than it did through
    # aiosqlite's thread, which is why the engine uses the standard library's sqlite3 alone. WAL
    # checkpoints, which copy megabytes and sync, are kept off this path (sqlite_upkeep), as are opening,
    # migrating and closing (worker threads); the lock keeps one user of the connection at a time.

    async def _transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one write transaction, inline (see above)."""
        async with self._lock:
            return in_transaction(self._connection(), work)

    async def _grouped(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in a write transaction shared with the other hot writes of this loop turn
        (sqlite_group); its own outcome, once committed."""
        return await self._group.run(work)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            return self._connection().execute(sql, params).fetchall()

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            return work(self._connection())

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None


def _private_files(path: Path | str) -> None:
    """The database and its -wal / -shm files readable by their owner only: they hold webhook secrets,
    Cognigy keys and live handovers' tokens. A new database is created 0600 before SQLite opens it, and
    SQLite creates the -wal and -shm files with the database's mode; files of an older install are tightened."""
    if str(path) == ":memory:":
        return
    database = Path(path)
    if not database.exists():
        os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
