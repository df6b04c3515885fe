"""The SQLite engine's outbox: deliveries due, their attempts settled, dead letters re-driven, and the
lists and counts read off the deliveries table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from handover_miaw.store.records import Delivery, DeliveryState, Page
from handover_miaw.store.sqlite_connection import SqliteConnection
from handover_miaw.store.sqlite_pages import deliveries_page
from handover_miaw.store.sqlite_schema import SELECT_DELIVERIES, SELECT_DUE, delivery_from_row, delivery_state_where

__all__ = ["SqliteOutbox"]


class SqliteOutbox(SqliteConnection):
    """The outbox part of SqliteStore."""

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

    async def mark_delivered_many(self, delivered: Sequence[tuple[str, float]]) -> None:
        """Settle the deliveries the receiver acknowledged, each at its time, in one transaction (shared with
        the loop turn's recorded events: sqlite_group); one no longer pending (settled already, or purged) is
        left alone."""
        if not delivered:
            return
        params = [(at, delivery_id) for delivery_id, at in delivered]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ? "
                "WHERE id = ? AND state = 'pending'",
                params,
            )

        await self._grouped(work)

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
        changed = await self._transact(
            lambda conn: conn.execute(
                "UPDATE deliveries SET state = 'pending', next_attempt_at = ? WHERE id = ? AND state = 'dead'",
                (now, delivery_id),
            )
        )
        return changed.rowcount > 0

    async def list_deliveries(self, state: DeliveryState | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, oldest first, optionally in one state."""
        if state is None:
            rows = await self._fetchall(f"{SELECT_DELIVERIES} ORDER BY seq LIMIT ?", (limit,))
        else:
            rows = await self._fetchall(
                f"{SELECT_DELIVERIES} WHERE {delivery_state_where(state)} ORDER BY seq LIMIT ?",
                (DeliveryState(state).value, limit),
            )
        return [delivery_from_row(row) for row in rows]

    async def deliveries_page(
        self, state: DeliveryState | None, limit: int, after: str | None = None
    ) -> Page[Delivery]:
        """Up to `limit` deliveries by seq, after the previous page's cursor."""
        return await self._read(lambda conn: deliveries_page(conn, state, limit, after))

    async def count_deliveries(self, state: DeliveryState) -> int:
        """How many deliveries are in this state: pending and dead ones counted off their partial index,
        delivered ones by a scan of the table (nothing on a hot or periodic path asks for those)."""
        row = await self._fetchone(
            f"SELECT COUNT(*) FROM deliveries WHERE {delivery_state_where(state)}",  # noqa: S608 - fixed text
            (DeliveryState(state).value,),
        )
        return int(row[0])

    async def deliveries_after(self, handover_id: str, after_seq: int, limit: int = 500) -> list[Delivery]:
        """A handover's deliveries in every state with seq > after_seq, in order (SSE replay)."""
        rows = await self._fetchall(
            f"{SELECT_DELIVERIES} WHERE handover_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (handover_id, after_seq, limit),
        )
        return [delivery_from_row(row) for row in rows]
