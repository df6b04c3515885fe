"""The SQLite engine's paged lists (keyset paging: each cursor is the sort key of the last row returned).

A cursor names a position in the sort order, not an offset, so rows inserted or deleted meanwhile never
make a page skip or repeat a row that stays. Functions run on the engine's sqlite3 connection, under its
lock; a cursor they cannot read is a ValueError.
"""

from __future__ import annotations

import math
import sqlite3

from handover_miaw.digits import ascii_digits
from handover_miaw.store.cursors import connector_cursor, finite_decimal, seq_cursor
from handover_miaw.store.records import ConnectorRecord, Delivery, DeliveryState, HandoverRecord, HandoverState, Page
from handover_miaw.store.sqlite_schema import (
    CONNECTOR_COLUMNS,
    DELIVERY_COLUMNS,
    HANDOVER_COLUMNS,
    connector_from_row,
    delivery_from_row,
    delivery_state_where,
    handover_from_row,
)

__all__ = ["connectors_page", "deliveries_page", "handovers_page"]

_HANDOVERS = f"SELECT rowid, {', '.join(HANDOVER_COLUMNS)} FROM handovers"  # noqa: S608 - fixed column names
_DELIVERIES = f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM deliveries"  # noqa: S608 - fixed column names
_CONNECTORS = f"SELECT {', '.join(CONNECTOR_COLUMNS)} FROM connectors"  # noqa: S608 - fixed column names


def connectors_page(conn: sqlite3.Connection, limit: int, after: str | None) -> Page[ConnectorRecord]:
    """Connectors by name; the cursor is the last name returned."""
    rows = conn.execute(
        f"{_CONNECTORS} WHERE name > ? ORDER BY name LIMIT ?", (connector_cursor(after), limit + 1)
    ).fetchall()
    items = [connector_from_row(row) for row in rows[:limit]]
    return Page(items, items[-1].name if len(rows) > limit else None)


def handovers_page(conn: sqlite3.Connection, state: str | None, limit: int, after: str | None) -> Page[HandoverRecord]:
    """Handovers newest first (created_at, then insertion); the cursor is `created_at:rowid` of the last one."""
    created_at, rowid = _handover_cursor(after)
    params: list[object] = [created_at, rowid]
    where = "(created_at, rowid) < (?, ?)"
    if state is not None:
        where, params = f"state = ? AND {where}", [HandoverState(state).value, *params]
    rows = conn.execute(
        f"{_HANDOVERS} WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (*params, limit + 1),
    ).fetchall()
    items = [handover_from_row(row[1:]) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items, None if last is None else f"{last[1 + HANDOVER_COLUMNS.index('created_at')]!r}:{last[0]}")


def deliveries_page(
    conn: sqlite3.Connection, state: DeliveryState | None, limit: int, after: str | None
) -> Page[Delivery]:
    """Deliveries by seq; the cursor is the last seq returned."""
    params: list[object] = [seq_cursor(after)]
    where = "seq > ?"
    if state is not None:
        where, params = f"{delivery_state_where(state)} AND {where}", [DeliveryState(state).value, *params]
    rows = conn.execute(f"{_DELIVERIES} WHERE {where} ORDER BY seq LIMIT ?", (*params, limit + 1)).fetchall()
    items = [delivery_from_row(row) for row in rows[:limit]]
    return Page(items, str(items[-1].seq) if len(rows) > limit else None)


def _handover_cursor(after: str | None) -> tuple[float, int]:
    if after is None:
        return math.inf, 0
    created_at, sep, rowid = after.partition(":")
    # A rowid is a 64-bit integer: a longer number overflowed the bind (a 500); int() also took "+1" and "1_0".
    if not sep or not finite_decimal(created_at) or not ascii_digits(rowid, 18):
        raise ValueError("not a handover cursor")
    return float(created_at), int(rowid)
