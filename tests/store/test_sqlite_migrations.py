"""The SQLite schema's migrations: a file written by an older runtime opens with its rows intact and read
through the indexes the current queries are written for."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import orjson

from handover_miaw.store import SqliteStore
from handover_miaw.store.records import DeliveryState, NewDelivery
from handover_miaw.store.sqlite_pages import deliveries_page
from handover_miaw.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION, SELECT_DUE
from tests.store.factories import T0

_V3_HANDOVER = (
    "INSERT INTO handovers (id, connector, session_id, user_id, state, conversation_id, settings, transcript, "
    "context, routing_attributes, created_at, updated_at) "
    "VALUES (?, 'acme', ?, 'u1', 'active', ?, '{}', '[]', '{}', '{}', ?, ?)"
)
_V3_DELIVERY = (
    "INSERT INTO deliveries (id, handover_id, connector, type, payload, state, attempts, next_attempt_at, "
    "created_at) VALUES (?, ?, 'acme', 'agent.message', '{}', ?, 0, ?, ?)"
)


def _write_v3(path: Path) -> None:
    """A file as the runtime of schema version 3 left it: deliveries of two handovers in every state."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        for statements in MIGRATIONS[:3]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 3")
        for handover_id in ("h1", "h2"):
            conn.execute(_V3_HANDOVER, (handover_id, f"s-{handover_id}", f"c-{handover_id}", T0, T0))
        for n, (handover_id, state) in enumerate(
            [("h1", "delivered"), ("h1", "pending"), ("h1", "pending"), ("h2", "dead"), ("h2", "pending")]
        ):
            conn.execute(_V3_DELIVERY, (f"d{n + 1}", handover_id, state, T0, T0))
    conn.close()


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    return " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


async def test_a_version_3_file_opens_with_its_deliveries_in_the_same_states(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _write_v3(path)
    store = SqliteStore(path)
    await store.open()
    try:
        assert [d.id for d in await store.due_deliveries(T0)] == ["d2", "d5"]
        assert await store.count_deliveries(DeliveryState.PENDING) == 3
        assert await store.count_deliveries(DeliveryState.DEAD) == 1
        assert await store.count_deliveries(DeliveryState.DELIVERED) == 1
        by_state = {state: [d.id for d in (await store.deliveries_page(state, 10)).items] for state in DeliveryState}
        assert by_state == {
            DeliveryState.PENDING: ["d2", "d3", "d5"],
            DeliveryState.DELIVERED: ["d1"],
            DeliveryState.DEAD: ["d4"],
        }
        assert [d.id for d in await store.list_deliveries(DeliveryState.PENDING)] == ["d2", "d3", "d5"]
        await store.mark_delivered("d2", T0 + 1)
        assert [d.id for d in await store.due_deliveries(T0 + 1)] == ["d3", "d5"]
        assert [d.id for d in await store.list_deliveries(DeliveryState.DELIVERED)] == ["d1", "d2"]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    assert "deliveries_unsettled" in indexes
    assert not {"deliveries_state_head", "deliveries_state_seq", "deliveries_pending_head",
                "deliveries_unsettled_seq"} & indexes  # fmt: skip
    conn.close()


def test_the_outbox_reads_only_unsettled_deliveries_off_their_partial_indexes(tmp_path: Path) -> None:
    """The head-of-line query and the pages of pending or dead deliveries repeat the partial indexes'
    conditions; without them SQLite scans every delivery ever kept."""
    with sqlite3.connect(tmp_path / "store.db") as conn:
        for statements in MIGRATIONS:
            for statement in statements:
                conn.execute(statement)
        due = _plan(conn, SELECT_DUE, (T0, 100))
        plans = {}
        for state in DeliveryState:
            statements: list[str] = []
            conn.set_trace_callback(statements.append)
            deliveries_page(conn, state, 10, None)
            conn.set_trace_callback(None)
            plans[state] = _plan(conn, statements[0].replace(f"'{state.value}'", "?", 1), (state.value,))
    conn.close()
    assert "COVERING INDEX deliveries_unsettled (state=?)" in due
    assert "TEMP B-TREE" not in due  # grouped by handover by the index itself
    assert "deliveries_unsettled" in plans[DeliveryState.PENDING]
    assert "INDEX deliveries_dead (seq>?)" in plans[DeliveryState.DEAD]
    assert "TEMP B-TREE" not in plans[DeliveryState.DEAD]  # a page of dead letters stops at its cursor
    assert "INTEGER PRIMARY KEY" in plans[DeliveryState.DELIVERED]


def _write_v5(path: Path) -> None:
    """A file of schema version 5: one handover's deliveries 7, 8 and 12, the counter of AUTOINCREMENT at 20
    (the rows after 12 gone with their handovers)."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        for statements in MIGRATIONS[:5]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 5")
        conn.execute(_V3_HANDOVER, ("h1", "s-h1", "c-h1", T0, T0))
        for seq, state in ((7, "delivered"), (8, "pending"), (12, "dead")):
            conn.execute(
                "INSERT INTO deliveries (seq, id, handover_id, connector, type, payload, state, attempts, "
                "next_attempt_at, created_at) VALUES (?, ?, 'h1', 'acme', 'agent.message', '{}', ?, 0, ?, ?)",
                (seq, f"d{seq}", state, T0, T0),
            )
        conn.execute("UPDATE sqlite_sequence SET seq = 20 WHERE name = 'deliveries'")
    conn.close()


async def test_a_version_5_file_keeps_its_seqs_and_numbers_on_from_the_largest_kept(tmp_path: Path) -> None:
    """v6 copies the deliveries into a table without AUTOINCREMENT: every row and seq is kept, and the next
    delivery takes the largest kept seq plus one, not the old counter's next."""
    path = tmp_path / "store.db"
    _write_v5(path)
    store = SqliteStore(path)
    await store.open()
    try:
        assert [(d.seq, d.id, d.state) for d in await store.list_deliveries()] == [
            (7, "d7", DeliveryState.DELIVERED),
            (8, "d8", DeliveryState.PENDING),
            (12, "d12", DeliveryState.DEAD),
        ]
        assert [d.id for d in await store.due_deliveries(T0)] == ["d8"]
        assert await store.record_event("h1", "entry-1", {}, [NewDelivery("d-new", "h1", "agent.message", {})])
        assert [(d.seq, d.id) for d in await store.deliveries_after("h1", 8)] == [(12, "d12"), (13, "d-new")]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        table = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'deliveries'").fetchone()[0]
        assert "AUTOINCREMENT" not in table.upper()
        assert conn.execute("SELECT name FROM sqlite_sequence WHERE name = 'deliveries'").fetchall() == []
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    conn.close()
    assert {
        "deliveries_handover_seq",
        "deliveries_unsettled",
        "deliveries_dead",
        "sqlite_autoindex_deliveries_1",
    } <= indexes


async def test_a_delivery_whose_handover_was_deleted_by_hand_is_kept_and_the_store_opens(
    tmp_path: Path, log_output: io.StringIO
) -> None:
    """The sqlite3 shell enforces no foreign keys, so a file can hold a delivery without its handover; v5
    opened such a file, and the v6 copy keeps the row rather than stopping the start."""
    path = tmp_path / "store.db"
    _write_v5(path)
    with sqlite3.connect(path, isolation_level=None) as conn:  # foreign keys off, as in the sqlite3 shell
        conn.execute(
            "INSERT INTO deliveries (seq, id, handover_id, connector, type, payload, state, attempts, "
            "next_attempt_at, created_at) VALUES (30, 'orphan', 'gone', 'acme', 'agent.message', '{}', "
            "'delivered', 1, ?, ?)",
            (T0, T0),
        )
    conn.close()
    store = SqliteStore(path)
    await store.open()
    try:
        assert [d.id for d in await store.list_deliveries()] == ["d7", "d8", "d12", "orphan"]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == [("deliveries", 30, "handovers", 0)]
    conn.close()
    lines = [orjson.loads(line) for line in log_output.getvalue().splitlines()]
    migrated = [line for line in lines if line["event"] == "store.migrated"]
    assert [(m["from_version"], m["to_version"]) for m in migrated] == [(5, SCHEMA_VERSION)]
