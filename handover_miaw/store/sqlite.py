"""The embedded store: one SQLite file in WAL mode (sqlite_connection says how it is used), holding
connectors and handovers here, user messages in sqlite_messages and the outbox in sqlite_outbox.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from handover_miaw.store.base import DuplicateHandoverError, StaleRecordError
from handover_miaw.store.leases import LocalLeases
from handover_miaw.store.records import ConnectorRecord, HandoverRecord, HandoverState, NewDelivery, Page
from handover_miaw.store.sqlite_messages import SqliteMessages
from handover_miaw.store.sqlite_outbox import SqliteOutbox
from handover_miaw.store.sqlite_pages import connectors_page, handovers_page
from handover_miaw.store.sqlite_schema import (
    INSERT_HANDOVER,
    SELECT_CONNECTORS,
    SELECT_HANDOVERS,
    connector_from_row,
    dump_json,
    handover_assignments,
    handover_from_row,
    handover_params,
)

__all__ = ["SqliteStore"]

_LIVE_STATES = tuple(state.value for state in HandoverState if state is not HandoverState.ENDED)


class SqliteStore(SqliteMessages, SqliteOutbox):
    """The Store engine for one process: an SQLite file (WAL), created and migrated on open()."""

    def leases(self) -> LocalLeases:
        """Every lease granted: the file serves this one process."""
        return LocalLeases()

    # Connectors

    async def put_connector(self, record: ConnectorRecord) -> None:
        """Create or replace a connector."""
        params = (record.name, dump_json(record.config), dump_json(record.delivery), record.updated_at)
        await self._transact(
            lambda conn: conn.execute(
                "INSERT INTO connectors (name, config, delivery, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET config = excluded.config, delivery = excluded.delivery, "
                "updated_at = excluded.updated_at",
                params,
            )
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
        deleted = await self._transact(lambda conn: conn.execute("DELETE FROM connectors WHERE name = ?", (name,)))
        return deleted.rowcount > 0

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
        *,
        expected_updated_at: float | None = None,
    ) -> bool:
        """In one transaction: mark entry_id processed, apply changes, enqueue deliveries (a savepoint in a
        transaction shared with the loop turn's other events: sqlite_group).

        False, with nothing changed, when entry_id was already processed. A delivery id already in the
        outbox is not enqueued again (ids are stable). Raises as update_handover does, StaleRecordError
        when `expected_updated_at` is given and the stored updated_at is another, and ValueError for a
        delivery of another handover; nothing is stored then.
        """
        now = self._clock()
        clause, values = handover_assignments(changes, now)
        if any(delivery.handover_id != handover_id for delivery in deliveries):
            raise ValueError(f"every delivery of an event must belong to handover {handover_id!r}")
        rows = [(d.id, d.type, dump_json(d.payload)) for d in deliveries]

        def work(conn: sqlite3.Connection) -> bool:
            found = conn.execute("SELECT connector, updated_at FROM handovers WHERE id = ?", (handover_id,)).fetchone()
            if expected_updated_at is not None and (found is None or found[1] != expected_updated_at):
                raise StaleRecordError(handover_id)  # a record gone is not the expected one either
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

        return await self._grouped(work)


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
