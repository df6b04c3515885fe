"""The SQLite engine's schema, its migrations, and the mapping between rows and records.

Kept apart from the engine so the SQL text and the column lists are in one place: every statement the
engine runs names its columns from here, never from caller input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from handover_miaw.store.records import (
    HANDOVER_FIELDS as HANDOVER_COLUMNS,
)
from handover_miaw.store.records import (
    IMMUTABLE_HANDOVER_FIELDS,
    ConnectorRecord,
    Delivery,
    DeliveryState,
    HandoverRecord,
    HandoverState,
    UserMessage,
)

__all__ = [
    "CONNECTOR_COLUMNS",
    "DELIVERY_COLUMNS",
    "HANDOVER_COLUMNS",
    "HANDOVER_JSON_FIELDS",
    "INSERT_HANDOVER",
    "MIGRATIONS",
    "PRAGMAS",
    "SCHEMA_VERSION",
    "SELECT_CONNECTORS",
    "SELECT_DELIVERIES",
    "SELECT_DUE",
    "SELECT_HANDOVERS",
    "SELECT_USER_MESSAGES",
    "USER_MESSAGE_COLUMNS",
    "connector_from_row",
    "delivery_from_row",
    "delivery_state_where",
    "dump_json",
    "handover_assignments",
    "handover_from_row",
    "handover_params",
    "handover_value",
    "user_message_from_row",
]

# Per connection, outside any transaction. WAL lets readers in other processes (an admin CLI) run while
# the runtime writes; NORMAL is durable across a process crash (only a power loss may drop the last
# commits), which is what WAL is designed for; busy_timeout waits out another process's write lock.
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
)

HANDOVER_JSON_FIELDS = frozenset({"settings", "transcript", "context", "routing_attributes", "pending_effects"})

CONNECTOR_COLUMNS = ("name", "config", "delivery", "updated_at")
USER_MESSAGE_COLUMNS = ("handover_id", "client_message_id", "miaw_message_id", "state", "created_at", "extra")
DELIVERY_COLUMNS = (
    "seq",
    "id",
    "handover_id",
    "connector",
    "type",
    "payload",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
    "last_error",
    "delivered_at",
)

_SCHEMA_V1 = (
    """
    CREATE TABLE connectors (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        delivery TEXT NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE handovers (
        id TEXT PRIMARY KEY,
        connector TEXT NOT NULL,
        session_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'queued', 'active', 'ended')),
        conversation_id TEXT NOT NULL,
        settings TEXT NOT NULL,
        transcript TEXT NOT NULL,
        language TEXT,
        context TEXT NOT NULL,
        routing_attributes TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        access_token TEXT,
        token_expires_at REAL,
        last_event_id TEXT,
        agent_name TEXT,
        queue_position INTEGER,
        estimated_wait_s INTEGER,
        end_status TEXT,
        end_reason TEXT,
        ended_at REAL
    )
    """,
    # The guarantee behind DuplicateHandoverError: enforced by SQLite itself, so it holds across processes.
    "CREATE UNIQUE INDEX handovers_live_session ON handovers (connector, session_id) WHERE state != 'ended'",
    "CREATE INDEX handovers_created ON handovers (created_at)",
    "CREATE INDEX handovers_state_created ON handovers (state, created_at)",
    """
    CREATE TABLE processed_entries (
        handover_id TEXT NOT NULL REFERENCES handovers (id) ON DELETE CASCADE,
        entry_id TEXT NOT NULL,
        PRIMARY KEY (handover_id, entry_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE user_messages (
        handover_id TEXT NOT NULL REFERENCES handovers (id) ON DELETE CASCADE,
        client_message_id TEXT NOT NULL,
        miaw_message_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        extra TEXT NOT NULL,
        PRIMARY KEY (handover_id, client_message_id)
    ) WITHOUT ROWID
    """,
    # AUTOINCREMENT (until v6): a seq was never reused, even after the newest rows were deleted.
    """
    CREATE TABLE deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        handover_id TEXT NOT NULL REFERENCES handovers (id) ON DELETE CASCADE,
        connector TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        last_error TEXT,
        delivered_at REAL
    )
    """,
    "CREATE INDEX deliveries_state_head ON deliveries (state, handover_id, seq)",
    "CREATE INDEX deliveries_handover_seq ON deliveries (handover_id, seq)",
    "CREATE INDEX deliveries_state_seq ON deliveries (state, seq)",
)

# MIGRATIONS[n] takes a database from user_version n to n + 1; append, never edit a shipped entry.
# v2: queued_at, for the queue timeout (a column added with a NULL default: existing rows need no rewrite).
_SCHEMA_V2 = ("ALTER TABLE handovers ADD COLUMN queued_at REAL",)
# v3: pending_effects, JSON; 'null' (not SQL NULL) for existing rows, so every JSON column always parses.
_SCHEMA_V3 = ("ALTER TABLE handovers ADD COLUMN pending_effects TEXT NOT NULL DEFAULT 'null'",)
# v4: the two indexes led by state become partial, over the deliveries not yet delivered. Led by state, each
# kept every delivered row too, at a place set by its handover: storing a delivery and marking it delivered
# wrote index pages scattered over the file (WAL frames per mark, counted in a file of 20,000 delivered rows
# over 200 handovers: 4.4 before, 3.0 after).
# The pending and dead rows are few, so their index pages stay the same few; the delivered ones are read
# in seq order off the table itself.
_SCHEMA_V4 = (
    "DROP INDEX deliveries_state_head",
    "DROP INDEX deliveries_state_seq",
    # state as a column too: SQLite 3.40 (Debian 12's) counts an index covering only for the columns it holds,
    # and would read each pending row from the table to check the state its condition already fixes.
    "CREATE INDEX deliveries_pending_head ON deliveries (handover_id, seq, state) WHERE state = 'pending'",
    "CREATE INDEX deliveries_unsettled_seq ON deliveries (state, seq) WHERE state != 'delivered'",
)
# v5: one index over the deliveries not yet delivered instead of those two. Every delivery entered both when
# stored and left both when delivered, so each agent event wrote a page of each twice; one index leaves
# 10.3 WAL frames per event committed alone instead of 12.2 (`python -m bench store`). Led by state, then
# handover: the head of line is each handover's first entry in the pending range, read off it alone as
# before. The price: a page of pending deliveries by seq reads the whole pending range, whatever its cursor,
# and sorts it, on the loop under the store's lock: 17-26 ms a page with 100,000 pending, so paging through
# such a backlog costs in proportion to its square. Every dispatcher pass already reads that range for the
# head of line (12 ms at 100,000 pending, on both layouts); only an operator's listing pays the rest. Dead
# ones, which pages went through the same way here, have an index of their own since v6.
_SCHEMA_V5 = (
    "DROP INDEX deliveries_pending_head",
    "DROP INDEX deliveries_unsettled_seq",
    "CREATE INDEX deliveries_unsettled ON deliveries (state, handover_id, seq) WHERE state != 'delivered'",
)
# v6: the deliveries table without AUTOINCREMENT, which wrote its counter's page in sqlite_sequence on every
# delivery stored: 10.3 WAL frames per agent event committed alone, 9.2 without (`python -m bench store`). A seq
# is now one more than the largest kept, so the seqs of the newest deliveries can come again once their
# handovers are purged. Nothing in the runtime depends on it: a handover's deliveries are only ever deleted
# with the handover, so each handover's seqs still only grow while it exists, and an SSE client's replay
# cursor (deliveries_after) reads its own handover's only. What can tell: an operator may see a number a
# purged delivery had, and a cursor of GET /v1/deliveries held across such a purge may miss deliveries numbered
# at or below it (Redis never reuses one). SQLite cannot drop AUTOINCREMENT from a table, so the first start on
# this version copies the table (seqs and every row kept, foreign keys unchecked as for every migration) and
# builds its indexes again, once, in one transaction holding the write lock: 7.6 s for a million deliveries on
# this project's 2-core machine (`store.migrated` in the log says how long), while other processes on the file
# wait up to busy_timeout (5 s) and then fail; the WAL grows to about twice the table's size until the next
# checkpoint, and the old table's pages stay in the file, free for later writes (the README's upgrade note).
# The table and its indexes are written out again rather than shared with v1 and v5: a shipped migration
# must stay what it ran as, whatever a later one needs.
_SCHEMA_V6 = (
    """
    CREATE TABLE deliveries_v6 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        handover_id TEXT NOT NULL REFERENCES handovers (id) ON DELETE CASCADE,
        connector TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        last_error TEXT,
        delivered_at REAL
    )
    """,
    f"INSERT INTO deliveries_v6 ({', '.join(DELIVERY_COLUMNS)}) "  # noqa: S608 - fixed column names
    f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM deliveries",
    "DROP TABLE deliveries",
    "ALTER TABLE deliveries_v6 RENAME TO deliveries",
    "CREATE INDEX deliveries_handover_seq ON deliveries (handover_id, seq)",
    "CREATE INDEX deliveries_unsettled ON deliveries (state, handover_id, seq) WHERE state != 'delivered'",
    # The dead letters by seq, so that their pages stop at the cursor again as they did before v5 (an operator
    # paging them after an outage held the loop 17-26 ms a page with 100,000 of them); a delivery enters it
    # only when it dies, so no agent event writes it.
    "CREATE INDEX deliveries_dead ON deliveries (seq) WHERE state = 'dead'",
)
MIGRATIONS: tuple[tuple[str, ...], ...] = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4, _SCHEMA_V5, _SCHEMA_V6)
SCHEMA_VERSION = len(MIGRATIONS)

HANDOVER_FIELDS = frozenset(HANDOVER_COLUMNS)
SELECT_HANDOVERS = f"SELECT {', '.join(HANDOVER_COLUMNS)} FROM handovers"  # noqa: S608 - fixed column names
SELECT_CONNECTORS = f"SELECT {', '.join(CONNECTOR_COLUMNS)} FROM connectors"  # noqa: S608 - fixed column names
SELECT_DELIVERIES = f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM deliveries"  # noqa: S608 - fixed column names
SELECT_USER_MESSAGES = f"SELECT {', '.join(USER_MESSAGE_COLUMNS)} FROM user_messages"  # noqa: S608 - fixed column names
INSERT_HANDOVER = (
    f"INSERT INTO handovers ({', '.join(HANDOVER_COLUMNS)}) "  # noqa: S608 - fixed column names
    f"VALUES ({', '.join('?' for _ in HANDOVER_COLUMNS)})"
)
# Head of line: each handover's oldest pending delivery, offered only once it is due. MIN(seq) per handover is
# read off the pending range of deliveries_unsettled alone (covering, already grouped by handover, no temporary
# sort); SQLite does not prove that `state = 'pending'` implies the index's `state != 'delivered'`, so the
# query says both. A delivery waiting for its retry therefore holds back the later ones of its handover; dead
# ones are not pending, so they do not.
SELECT_DUE = f"""
    {SELECT_DELIVERIES}
    WHERE seq IN (
        SELECT MIN(seq) FROM deliveries WHERE state = 'pending' AND state != 'delivered' GROUP BY handover_id
    )
      AND next_attempt_at <= ?
    ORDER BY seq
    LIMIT ?
"""  # noqa: S608 - fixed column names


def delivery_state_where(state: DeliveryState) -> str:
    """The WHERE terms selecting deliveries in one state (its value bound as the one parameter).

    Pending ones are read off the partial index deliveries_unsettled, dead ones off deliveries_dead: SQLite
    uses a partial index only when it can prove the query's WHERE implies the index's condition, and with the
    state bound as a parameter it proves it only from that same term. Delivered ones, most rows, are read
    off the table in seq order.
    """
    chosen = DeliveryState(state)
    if chosen is DeliveryState.PENDING:
        return "state = ? AND state != 'delivered'"
    if chosen is DeliveryState.DEAD:
        return "state = ? AND state = 'dead'"
    return "state = ?"


def handover_assignments(changes: Mapping[str, Any], now: float) -> tuple[str, list[Any]]:
    """The SET clause and its values for handover changes, stamping updated_at unless it is given.

    Column names are checked against the record's fields before they reach any SQL text.
    """
    unknown = sorted(set(changes) - HANDOVER_FIELDS)
    if unknown:
        raise ValueError(f"unknown handover fields: {', '.join(unknown)}")
    immutable = sorted(set(changes) & IMMUTABLE_HANDOVER_FIELDS)
    if immutable:
        raise ValueError(f"handover fields cannot change: {', '.join(immutable)}")
    merged = {"updated_at": now, **changes}
    clause = ", ".join(f"{name} = ?" for name in merged)
    return clause, [handover_value(name, value) for name, value in merged.items()]


def dump_json(value: Any) -> str:
    """JSON text for a column (text rather than bytes, so the file stays readable with the sqlite3 CLI)."""
    return orjson.dumps(value).decode()


def handover_value(name: str, value: Any) -> Any:
    """A HandoverRecord field's value as bound to its column; raises ValueError for an unknown state."""
    if name in HANDOVER_JSON_FIELDS:
        return dump_json(value)
    if name == "state":
        return HandoverState(value).value
    return value


def handover_params(record: HandoverRecord) -> tuple[Any, ...]:
    """Bind values for an INSERT naming HANDOVER_COLUMNS, in that order."""
    return tuple(handover_value(name, getattr(record, name)) for name in HANDOVER_COLUMNS)


def handover_from_row(row: Any) -> HandoverRecord:
    """A HandoverRecord from a row selected with HANDOVER_COLUMNS."""
    values: dict[str, Any] = dict(zip(HANDOVER_COLUMNS, row, strict=True))
    for name in HANDOVER_JSON_FIELDS:
        values[name] = orjson.loads(values[name])
    values["state"] = HandoverState(values["state"])
    return HandoverRecord(**values)


def connector_from_row(row: Any) -> ConnectorRecord:
    """A ConnectorRecord from a row selected with CONNECTOR_COLUMNS."""
    name, config, delivery, updated_at = row
    return ConnectorRecord(name, orjson.loads(config), orjson.loads(delivery), updated_at)


def user_message_from_row(row: Any) -> UserMessage:
    """A UserMessage from a row selected with USER_MESSAGE_COLUMNS."""
    handover_id, client_message_id, miaw_message_id, state, created_at, extra = row
    return UserMessage(handover_id, client_message_id, miaw_message_id, state, created_at, orjson.loads(extra))


def delivery_from_row(row: Any) -> Delivery:
    """A Delivery from a row selected with DELIVERY_COLUMNS."""
    values: dict[str, Any] = dict(zip(DELIVERY_COLUMNS, row, strict=True))
    values["payload"] = orjson.loads(values["payload"])
    values["state"] = DeliveryState(values["state"])
    return Delivery(**values)
