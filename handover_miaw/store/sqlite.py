"""The embedded store: one SQLite file in WAL mode, opened through aiosqlite.

One connection serves the whole process: aiosqlite opens and migrates it on its own thread; reads and
single-trip writes run inline on the loop (`_transact` says why and what it costs). An asyncio lock serialises
every operation on it, so a coroutine never reads another coroutine's half-done transaction, and every
write is one `BEGIN IMMEDIATE` transaction: it takes SQLite's write lock up front, so a check made inside
it (is this entry processed? is this session live?) still holds when the write lands, even against
another process using the same file. Any exception rolls the transaction back: bad input leaves the store
as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from handover_miaw.store.base import DuplicateHandoverError
from handover_miaw.store.durability import Durability, sqlite_durability
from handover_miaw.store.records import (
    ConnectorRecord,
    Delivery,
    DeliveryState,
    HandoverRecord,
    HandoverState,
    NewDelivery,
    Page,
    Retention,
    UserMessage,
)
from handover_miaw.store.sqlite_pages import connectors_page, deliveries_page, handovers_page
from handover_miaw.store.sqlite_schema import (
    INSERT_HANDOVER,
    MIGRATIONS,
    PRAGMAS,
    SCHEMA_VERSION,
    SELECT_CONNECTORS,
    SELECT_DELIVERIES,
    SELECT_DUE,
    SELECT_HANDOVERS,
    SELECT_USER_MESSAGES,
    connector_from_row,
    delivery_from_row,
    dump_json,
    handover_assignments,
    handover_from_row,
    handover_params,
    user_message_from_row,
)
from handover_miaw.store.sqlite_upkeep import Upkeep

__all__ = ["SqliteStore"]


T = TypeVar("T")

_LIVE_STATES = tuple(state.value for state in HandoverState if state is not HandoverState.ENDED)


@asynccontextmanager
async def _transaction(db: aiosqlite.Connection) -> AsyncIterator[None]:
    """One write transaction, rolled back on any exception (cancellation included)."""
    await _run(db, "BEGIN IMMEDIATE")
    try:
        yield
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


def _in_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` in one BEGIN IMMEDIATE transaction, on the connection's own thread; roll back on failure."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return result


async def _run(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    """Execute one statement; return how many rows it changed."""
    async with db.execute(sql, params) as cursor:
        return cursor.rowcount


class SqliteStore:
    """The Store engine for one process: an SQLite file (WAL), created and migrated on open()."""

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
        self._db: aiosqlite.Connection | None = None
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

    # Lifecycle

    async def open(self) -> None:
        """Connect, set the pragmas and bring the schema to SCHEMA_VERSION."""
        if self._db is not None:
            return
        _private_files(self._path)
        # isolation_level=None: no implicit transactions; every write opens its own BEGIN IMMEDIATE.
        # check_same_thread=False: the hot path uses the connection inline (see `_transact`).
        db = await aiosqlite.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            for pragma in PRAGMAS:
                await _run(db, pragma)
            # Commits never checkpoint: the upkeep does it on a connection and thread of its own.
            await _run(db, "PRAGMA wal_autocheckpoint = 0")
            # When SQLite rewinds the WAL by itself it also shrinks the file to this size.
            await _run(db, f"PRAGMA journal_size_limit = {int(self._wal_limit_bytes)}")
            await self._migrate(db)
        except BaseException:
            await db.close()
            raise
        self._db = db
        _private_files(self._path)  # the -wal and -shm files exist now (SQLite gives them the file's mode)
        self._checkpointer = asyncio.get_running_loop().create_task(self._upkeep.run(), name="sqlite-upkeep")

    async def close(self) -> None:
        """Close the connection; open() may be called again."""
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        async with self._lock:
            if self._db is not None:
                await self._db.close()
                self._db = None

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
                rows = await self._db.execute_fetchall("SELECT 1")
            except sqlite3.Error:
                return False
            return list(rows) == [(1,)]

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

    @staticmethod
    async def _migrate(db: aiosqlite.Connection) -> None:
        # The version is read inside the write transaction, so two processes opening a new file at once
        # cannot both apply the same migration.
        async with _transaction(db):
            rows = await db.execute_fetchall("PRAGMA user_version")
            version = int(next(iter(rows))[0])
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"store schema version {version} is newer than this runtime's {SCHEMA_VERSION}")
            if version == SCHEMA_VERSION:
                return
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    await _run(db, statement)
            # An int we computed, not input: PRAGMA takes no bound parameters.
            await _run(db, f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    # Plumbing

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self._connection()
            async with _transaction(db):
                yield db

    # The hot path (every message, event and delivery) runs inline on the event loop, each operation one
    # statement or one short transaction: WAL with synchronous=NORMAL does not fsync on commit, so one
    # takes tens of microseconds, while a trip to aiosqlite's thread costs more than the statement (queue,
    # wake-up, GIL hand-over back to a busy loop) and the lock serialised those trips: with
    # `python -m bench relay` the runtime went from ~400 to ~1,500 messages/s, with `fanin` from ~440 to
    # ~1,100 events/s. WAL checkpoints, which copy megabytes and sync, are kept off this path
    # (sqlite_upkeep). aiosqlite keeps the connection (opened with check_same_thread=False; the lock keeps one
    # user at a time) and runs opening, migrations and the rare multi-statement `_write()` transactions;
    # `_conn` is aiosqlite's (private, stable since 0.17) handle on that sqlite3 connection.

    async def _transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one write transaction, inline (see above)."""
        async with self._lock:
            return _in_transaction(self._connection()._conn, work)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            return self._connection()._conn.execute(sql, params).fetchall()

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            return work(self._connection()._conn)

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    # Connectors

    async def put_connector(self, record: ConnectorRecord) -> None:
        """Create or replace a connector."""
        params = (record.name, dump_json(record.config), dump_json(record.delivery), record.updated_at)
        async with self._write() as db:
            await _run(
                db,
                "INSERT INTO connectors (name, config, delivery, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET config = excluded.config, delivery = excluded.delivery, "
                "updated_at = excluded.updated_at",
                params,
            )

    async def get_connector(self, name: str) -> ConnectorRecord | None:
        """One connector, or None."""
        row = await self._fetchone(f"{SELECT_CONNECTORS} WHERE name = ?", (name,))
        return None if row is None else connector_from_row(row)

    async def list_connectors(self) -> list[ConnectorRecord]:
        """Every connector, by name."""
        return [connector_from_row(row) for row in await self._fetchall(f"{SELECT_CONNECTORS} ORDER BY name")]

    async def delete_connector(self, name: str) -> bool:
        """Remove a connector; False when there was none."""
        async with self._write() as db:
            return await _run(db, "DELETE FROM connectors WHERE name = ?", (name,)) > 0

    async def connectors_page(self, limit: int, after: str | None = None) -> Page[ConnectorRecord]:
        """Up to `limit` connectors by name, after the previous page's cursor."""
        return await self._read(lambda conn: connectors_page(conn, limit, after))

    # Handovers

    async def create_handover(self, record: HandoverRecord) -> None:
        """Insert a new handover; DuplicateHandoverError when its session already has a live one.

        ValueError when the record cannot be stored as given (its id is taken, a required field is None).
        """
        params = handover_params(record)

        def work(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(INSERT_HANDOVER, params)
            except sqlite3.IntegrityError as exc:
                existing = _live(conn, record.connector, record.session_id)
                if record.is_live and existing is not None:
                    raise DuplicateHandoverError(existing) from None
                raise ValueError(f"handover {record.id!r} not stored: {exc}") from None

        await self._transact(work)

    async def get_handover(self, handover_id: str) -> HandoverRecord | None:
        """One handover, or None."""
        row = await self._fetchone(f"{SELECT_HANDOVERS} WHERE id = ?", (handover_id,))
        return None if row is None else handover_from_row(row)

    async def find_live_handover(self, connector: str, session_id: str) -> HandoverRecord | None:
        """The session's handover that has not ended, if any (there is at most one)."""
        rows = await self._fetchall(
            f"{SELECT_HANDOVERS} WHERE connector = ? AND session_id = ? AND state != 'ended'", (connector, session_id)
        )
        return handover_from_row(rows[0]) if rows else None

    async def list_handovers(self, state: str | None = None, limit: int = 100) -> list[HandoverRecord]:
        """Handovers, newest first (by creation), optionally in one state."""
        if state is None:
            rows = await self._fetchall(f"{SELECT_HANDOVERS} ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))
        else:
            rows = await self._fetchall(
                f"{SELECT_HANDOVERS} WHERE state = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (HandoverState(state).value, limit),
            )
        return [handover_from_row(row) for row in rows]

    async def handovers_page(self, state: str | None, limit: int, after: str | None = None) -> Page[HandoverRecord]:
        """Up to `limit` handovers, newest first, after the previous page's cursor."""
        return await self._read(lambda conn: handovers_page(conn, state, limit, after))

    async def live_handover_ids(self) -> set[str]:
        """The ids of every handover that has not ended, without reading the records."""
        rows = await self._fetchall("SELECT id FROM handovers WHERE state IN (?, ?, ?)", _LIVE_STATES)
        return {row[0] for row in rows}

    async def update_handover(self, handover_id: str, changes: Mapping[str, Any]) -> HandoverRecord:
        """Apply field changes and return the new record.

        KeyError for an unknown handover; ValueError for an unknown or identity field name (id, connector,
        session_id) or an unknown state; DuplicateHandoverError when it would make a second live handover.
        """
        clause, values = handover_assignments(changes, self._clock())

        def work(conn: sqlite3.Connection) -> HandoverRecord:
            _apply(conn, handover_id, clause, values)
            return handover_from_row(conn.execute(f"{SELECT_HANDOVERS} WHERE id = ?", (handover_id,)).fetchone())

        return await self._transact(work)

    async def record_event(
        self,
        handover_id: str,
        entry_id: str | None,
        changes: Mapping[str, Any],
        deliveries: Sequence[NewDelivery],
    ) -> bool:
        """In one transaction: mark entry_id processed, apply changes, enqueue deliveries.

        False, with nothing changed, when entry_id was already processed. A delivery id already in the
        outbox is not enqueued again (ids are stable). Raises as update_handover does, and ValueError
        for a delivery of another handover; nothing is stored then.
        """
        now = self._clock()
        clause, values = handover_assignments(changes, now)
        if any(delivery.handover_id != handover_id for delivery in deliveries):
            raise ValueError(f"every delivery of an event must belong to handover {handover_id!r}")
        rows = [(d.id, d.type, dump_json(d.payload)) for d in deliveries]

        def work(conn: sqlite3.Connection) -> bool:
            found = conn.execute("SELECT connector FROM handovers WHERE id = ?", (handover_id,)).fetchone()
            if found is None:
                raise KeyError(handover_id)
            connector: str = found[0]
            if entry_id is not None:
                inserted = conn.execute(
                    "INSERT INTO processed_entries (handover_id, entry_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (handover_id, entry_id),
                ).rowcount
                if not inserted:
                    return False
            _apply(conn, handover_id, clause, values)
            for ident, kind, payload in rows:
                conn.execute(
                    "INSERT INTO deliveries (id, handover_id, connector, type, payload, state, attempts, "
                    "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) "
                    "ON CONFLICT (id) DO NOTHING",
                    (ident, handover_id, connector, kind, payload, now, now),
                )
            return True

        return await self._transact(work)

    async def is_processed(self, handover_id: str, entry_id: str) -> bool:
        """True when this MIAW entry was already processed for this handover."""
        row = await self._fetchone(
            "SELECT 1 FROM processed_entries WHERE handover_id = ? AND entry_id = ?", (handover_id, entry_id)
        )
        return row is not None

    # User messages

    async def get_user_message(self, handover_id: str, client_message_id: str) -> UserMessage | None:
        """The message stored under this caller id, if any."""
        row = await self._fetchone(
            f"{SELECT_USER_MESSAGES} WHERE handover_id = ? AND client_message_id = ?", (handover_id, client_message_id)
        )
        return None if row is None else user_message_from_row(row)

    async def mark_user_message_sent(self, handover_id: str, client_message_id: str, miaw_message_id: str) -> None:
        """Record that MIAW accepted the message (one statement, its own transaction); a stored MIAW id is kept.
        KeyError when the handover does not exist."""
        async with self._lock:
            try:
                self._connection()._conn.execute(
                    "INSERT INTO user_messages (handover_id, client_message_id, miaw_message_id, state, created_at, "
                    "extra) VALUES (?, ?, ?, 'sent', ?, '{}') "
                    "ON CONFLICT (handover_id, client_message_id) DO UPDATE SET state = 'sent'",
                    (handover_id, client_message_id, miaw_message_id, self._clock()),
                )
            except sqlite3.IntegrityError:
                # The foreign key: no such handover.
                raise KeyError(handover_id) from None

    async def reserve_user_message(
        self, handover_id: str, client_message_id: str, miaw_message_id: str, digest: str, hold_s: float
    ) -> tuple[bool, UserMessage]:
        """Claim the sending of a caller's message (see Store.reserve_user_message); one transaction."""
        now = self._clock()
        key = (handover_id, client_message_id)

        def work(conn: sqlite3.Connection) -> tuple[bool, UserMessage]:
            query = f"{SELECT_USER_MESSAGES} WHERE handover_id = ? AND client_message_id = ?"
            row = conn.execute(query, key).fetchone()
            hold = {"digest": digest, "until": now + hold_s}
            if row is None:
                try:
                    conn.execute(
                        "INSERT INTO user_messages (handover_id, client_message_id, miaw_message_id, state, "
                        "created_at, extra) VALUES (?, ?, ?, 'reserved', ?, ?)",
                        (*key, miaw_message_id, now, dump_json(hold)),
                    )
                except sqlite3.IntegrityError:
                    raise KeyError(handover_id) from None  # the foreign key: no such handover
                return True, UserMessage(*key, miaw_message_id, "reserved", now, hold)
            stored = user_message_from_row(row)
            lapsed = stored.state == "reserved" and float(stored.extra.get("until", 0.0)) < now
            if lapsed and stored.extra.get("digest", digest) == digest:
                conn.execute(
                    "UPDATE user_messages SET extra = ? WHERE handover_id = ? AND client_message_id = ?",
                    (dump_json(hold), *key),
                )
                return True, UserMessage(*key, stored.miaw_message_id, "reserved", stored.created_at, hold)
            return False, stored

        return await self._transact(work)

    async def release_user_message(self, handover_id: str, client_message_id: str) -> None:
        """Drop an unsent reservation; a sent message is kept."""
        await self._transact(
            lambda conn: conn.execute(
                "DELETE FROM user_messages WHERE handover_id = ? AND client_message_id = ? AND state = 'reserved'",
                (handover_id, client_message_id),
            )
        )

    # Outbox

    async def due_deliveries(self, now: float, limit: int = 100) -> list[Delivery]:
        """The oldest pending delivery of each handover, when its next attempt is due; oldest first."""
        return [delivery_from_row(row) for row in await self._fetchall(SELECT_DUE, (now, limit))]

    async def mark_delivered(self, delivery_id: str, now: float) -> None:
        """The receiver acknowledged it: count the attempt and settle it."""
        await self._settle(
            delivery_id,
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ? "
            "WHERE id = ? AND state = 'pending'",
            (now, delivery_id),
        )

    async def mark_retry(self, delivery_id: str, next_attempt_at: float, error: str) -> None:
        """A failed attempt: count it, keep the error, and schedule the next one."""
        await self._settle(
            delivery_id,
            "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE id = ? AND state = 'pending'",
            (next_attempt_at, error, delivery_id),
        )

    async def mark_dead(self, delivery_id: str, error: str) -> None:
        """The last failed attempt: count it and give up, so later deliveries of the handover proceed."""
        await self._settle(
            delivery_id,
            "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ? "
            "WHERE id = ? AND state = 'pending'",
            (error, delivery_id),
        )

    async def _settle(self, delivery_id: str, sql: str, params: Sequence[Any]) -> None:
        """Apply an attempt's outcome to a pending delivery.

        A delivery that is no longer pending is left alone (a late report must not revive or re-kill it);
        an unknown id is a KeyError.
        """

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute(sql, params).rowcount:
                return
            if conn.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery_id,)).fetchone() is None:
                raise KeyError(delivery_id)

        await self._transact(work)

    async def redrive(self, delivery_id: str, now: float) -> bool:
        """Put a dead delivery back to pending, due now, its attempts kept; False when it is not dead."""
        async with self._write() as db:
            changed = await _run(
                db,
                "UPDATE deliveries SET state = 'pending', next_attempt_at = ? WHERE id = ? AND state = 'dead'",
                (now, delivery_id),
            )
            return changed > 0

    async def list_deliveries(self, state: DeliveryState | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, oldest first, optionally in one state."""
        if state is None:
            rows = await self._fetchall(f"{SELECT_DELIVERIES} ORDER BY seq LIMIT ?", (limit,))
        else:
            rows = await self._fetchall(
                f"{SELECT_DELIVERIES} WHERE state = ? ORDER BY seq LIMIT ?", (DeliveryState(state).value, limit)
            )
        return [delivery_from_row(row) for row in rows]

    async def deliveries_page(
        self, state: DeliveryState | None, limit: int, after: str | None = None
    ) -> Page[Delivery]:
        """Up to `limit` deliveries by seq, after the previous page's cursor."""
        return await self._read(lambda conn: deliveries_page(conn, state, limit, after))

    async def count_deliveries(self, state: DeliveryState) -> int:
        """How many deliveries are in this state (read off the (state, seq) index)."""
        row = await self._fetchone("SELECT COUNT(*) FROM deliveries WHERE state = ?", (DeliveryState(state).value,))
        return int(row[0])

    async def deliveries_after(self, handover_id: str, after_seq: int, limit: int = 500) -> list[Delivery]:
        """A handover's deliveries in every state with seq > after_seq, in order (SSE replay)."""
        rows = await self._fetchall(
            f"{SELECT_DELIVERIES} WHERE handover_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (handover_id, after_seq, limit),
        )
        return [delivery_from_row(row) for row in rows]


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


def _live(conn: sqlite3.Connection, connector: str, session_id: str) -> HandoverRecord | None:
    row = conn.execute(
        f"{SELECT_HANDOVERS} WHERE connector = ? AND session_id = ? AND state != 'ended'", (connector, session_id)
    ).fetchone()
    return None if row is None else handover_from_row(row)


def _apply(conn: sqlite3.Connection, handover_id: str, clause: str, values: list[Any]) -> None:
    """UPDATE one handover with a SET clause built by handover_assignments (checked names only)."""
    try:
        changed = conn.execute(f"UPDATE handovers SET {clause} WHERE id = ?", (*values, handover_id)).rowcount  # noqa: S608 - checked names
    except sqlite3.IntegrityError as exc:
        # A UNIQUE failure here means reviving an ended handover whose session has a live one again;
        # anything else (a NOT NULL field set to None) is a bad value.
        row = conn.execute("SELECT connector, session_id FROM handovers WHERE id = ?", (handover_id,)).fetchone()
        existing = _live(conn, row[0], row[1]) if row is not None and "UNIQUE" in str(exc) else None
        if existing is not None and existing.id != handover_id:
            raise DuplicateHandoverError(existing) from None
        raise ValueError(f"handover {handover_id!r} not updated: {exc}") from None
    if not changed:
        raise KeyError(handover_id)
