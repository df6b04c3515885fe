"""The SQLite engine's user messages: a caller's message reserved, marked sent or released, so a retried
send reaches MIAW once."""

from __future__ import annotations

import sqlite3

from handover_miaw.store.records import UserMessage
from handover_miaw.store.sqlite_connection import SqliteConnection
from handover_miaw.store.sqlite_schema import SELECT_USER_MESSAGES, dump_json, user_message_from_row

__all__ = ["SqliteMessages"]


class SqliteMessages(SqliteConnection):
    """The user-message part of SqliteStore."""

    async def get_user_message(self, handover_id: str, client_message_id: str) -> UserMessage | None:
        """The message stored under this caller id, if any."""
        row = await self._fetchone(
            f"{SELECT_USER_MESSAGES} WHERE handover_id = ? AND client_message_id = ?", (handover_id, client_message_id)
        )
        return None if row is None else user_message_from_row(row)

    def single_process(self) -> bool:
        """The file serves this one process (as its leases say)."""
        return True

    async def mark_user_message_sent(
        self, handover_id: str, client_message_id: str, miaw_message_id: str, digest: str | None = None
    ) -> None:
        """Record that MIAW accepted the message (one statement, in the transaction the loop turn's other hot
        writes share: sqlite_group); a stored MIAW id and digest are kept. KeyError when the handover does not
        exist."""
        extra = "{}" if digest is None else dump_json({"digest": digest})
        row = (handover_id, client_message_id, miaw_message_id, self._clock(), extra)

        def work(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO user_messages (handover_id, client_message_id, miaw_message_id, state, created_at, "
                    "extra) VALUES (?, ?, ?, 'sent', ?, ?) "
                    "ON CONFLICT (handover_id, client_message_id) DO UPDATE SET state = 'sent'",
                    row,
                )
            except sqlite3.IntegrityError:
                # The foreign key: no such handover.
                raise KeyError(handover_id) from None

        await self._grouped(work)

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
