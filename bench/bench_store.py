"""store: what the SQLite engine costs per agent event on the fan-in's store path, against a bare outbox.

Per event, what the runtime asks of its store when an agent message arrives and is delivered: the event
recorded (`record_event`: its MIAW entry marked processed, the stream cursor, the delivery enqueued) and,
once the webhook answered, the delivery marked delivered (`mark_delivered_many`), over 200 handovers, in the
benchmark's own process and without the network: one event at a time (each write committed alone, the
commit pattern of 500 events/s, though at the store's full speed) and 30 at once (the writes of one loop
turn share a commit, as at saturation). The floor, in the same run and the same file settings (WAL,
`synchronous = NORMAL`): a bare SQLite outbox of one table, each event one INSERT and one UPDATE of its row.
It is a lower bound, not the same work: no entry recognised when MIAW sends it again, no unique delivery id,
no stream cursor, which the store keeps.

Figures per path: the event loop's thread CPU per event, the store's and the floor's, median of alternating
rounds (the floor runs on that thread alone); the store's process CPU per event too, which adds its upkeep
thread's checkpoints (more of them than at 500 events/s, as the WAL fills faster); and the WAL frames
(4 KiB pages) each event writes, counted with checkpoints held off, which does not depend on the machine's
speed and is what a change of the stored layout moves first. `python -m bench store`; about half a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.figures import print_table, write_results
from handover_miaw.delivery.envelope import delivery_id
from handover_miaw.logs import configure_logging
from handover_miaw.store.records import ConnectorRecord, HandoverRecord, HandoverState, NewDelivery
from handover_miaw.store.sqlite import SqliteStore
from handover_miaw.store.sqlite_schema import PRAGMAS

HANDOVERS = 200
BATCH = 30
PAYLOAD = {"text": "Hello, this is Anna from support. Let me look at your order.", "sender": {"name": "Anna"}}
# A MIAW access token is a JWT of about this size; it sits in the handover's row.
TOKEN = "x" * 900

Event = Callable[[int], Awaitable[None]]


def _record(handover_id: str, now: float) -> HandoverRecord:
    return HandoverRecord(
        id=handover_id, connector="bench", session_id=f"s-{handover_id}", user_id="u", state=HandoverState.ACTIVE,
        conversation_id=str(uuid.uuid4()), settings={}, transcript=[], language="en", context={},
        routing_attributes={}, created_at=now, updated_at=now, access_token=TOKEN, token_expires_at=now + 3600,
        agent_name="Anna",
    )  # fmt: skip


class _Engine:
    """The runtime's store path: the events of 200 handovers through SqliteStore."""

    def __init__(self, store: SqliteStore, handovers: list[str]) -> None:
        self.store = store
        self.handovers = handovers
        self.count = 0

    @classmethod
    async def open(cls, path: Path, *, checkpoint_interval_s: float = 0.5) -> _Engine:
        store = SqliteStore(path, checkpoint_interval_s=checkpoint_interval_s)
        await store.open()
        now = time.time()
        await store.put_connector(ConnectorRecord("bench", {}, {}, now))
        handovers = [f"ho_{uuid.uuid4().hex}" for _ in range(HANDOVERS)]
        for handover_id in handovers:
            await store.create_handover(_record(handover_id, now))
        return cls(store, handovers)

    async def event(self, _index: int) -> None:
        self.count += 1
        handover_id = self.handovers[self.count % HANDOVERS]
        entry = str(uuid.uuid4())
        ident = delivery_id(handover_id, entry)
        delivery = NewDelivery(ident, handover_id, "agent.message", PAYLOAD)
        await self.store.record_event(handover_id, entry, {"last_event_id": str(self.count)}, [delivery])
        await self.store.mark_delivered_many([(ident, time.time())])

    def connection(self) -> sqlite3.Connection:
        return self.store._connection()  # the frame count reads the engine's own file


class _Floor:
    """A bare outbox: one table, an INSERT per event and an UPDATE once delivered."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            self.conn.execute(pragma)
        self.conn.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, handover_id TEXT NOT NULL, payload TEXT NOT NULL, "
            "state TEXT NOT NULL)"
        )
        self.handovers = [f"ho_{uuid.uuid4().hex}" for _ in range(HANDOVERS)]
        self.count = 0
        self.batch: list[int] = []

    def _insert(self) -> int:
        self.count += 1
        cursor = self.conn.execute(
            "INSERT INTO outbox (handover_id, payload, state) VALUES (?, ?, 'pending')",
            (self.handovers[self.count % HANDOVERS], str(PAYLOAD)),
        )
        return int(cursor.lastrowid or 0)

    async def event(self, _index: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        seq = self._insert()
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("UPDATE outbox SET state = 'delivered' WHERE seq = ?", (seq,))
        self.conn.execute("COMMIT")

    async def events(self, count: int) -> None:
        """`count` events whose writes share one commit, then whose marks share another (a loop turn's)."""
        self.conn.execute("BEGIN IMMEDIATE")
        seqs = [self._insert() for _ in range(count)]
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("UPDATE outbox SET state = 'delivered' WHERE seq = ?", [(s,) for s in seqs])
        self.conn.execute("COMMIT")


async def _run(event: Event, count: int, batched: bool, floor: _Floor | None) -> tuple[float, float]:
    """CPU µs per event for `count` events, one at a time or BATCH at once: (this thread's, the process's)."""
    started, process_started = time.thread_time(), time.process_time()
    if not batched:
        for index in range(count):
            await event(index)
    elif floor is not None:
        for _ in range(0, count, BATCH):
            await floor.events(BATCH)
    else:
        for index in range(0, count, BATCH):
            await asyncio.gather(*(event(index + k) for k in range(BATCH)))
    return (time.thread_time() - started) / count * 1e6, (time.process_time() - process_started) / count * 1e6


def _wal_frames(conn: sqlite3.Connection) -> int:
    """Frames in the WAL now (a PASSIVE checkpoint reports them; nothing else is checkpointing)."""
    return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


async def _frames(conn: sqlite3.Connection, event: Event, floor: _Floor | None, count: int, batched: bool) -> float:
    """WAL frames per event, with checkpoints held off: the WAL is emptied, then written by `count` events."""
    busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    assert busy == 0, "the WAL was not emptied before counting its frames"
    await _run(event, count, batched, floor)
    return round(_wal_frames(conn) / count, 2)


async def measure(*, events: int, rounds: int, frame_events: int) -> dict[str, Any]:
    """Both paths, one event at a time and in batches: CPU per event (median of alternating rounds) and
    WAL frames per event."""
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        directory = Path(tmp)
        figures: dict[str, Any] = {}
        for batched in (False, True):
            mode = "batched" if batched else "alone"
            engine = await _Engine.open(directory / f"engine-{mode}.db")
            floor = _Floor(directory / f"floor-{mode}.db")
            try:
                await _run(engine.event, events // 4, batched, None)  # warm-up: the first pages, the caches
                await _run(floor.event, events // 4, batched, floor)
                # The floor's batched rounds are short: they get more events, so that their CPU is measurable.
                floor_events = events * 4 if batched else events
                cpu: dict[str, list[float]] = {"store": [], "store_process": [], "floor": []}
                for index in range(rounds):
                    for name in ("store", "floor") if index % 2 == 0 else ("floor", "store"):
                        if name == "store":
                            thread, process = await _run(engine.event, events, batched, None)
                            cpu["store"].append(thread)
                            cpu["store_process"].append(process)
                        else:
                            cpu["floor"].append((await _run(floor.event, floor_events, batched, floor))[0])
            finally:
                await engine.store.close()
                floor.conn.close()
            # The frame counts, on files of their own whose upkeep never checkpoints meanwhile.
            held = await _Engine.open(directory / f"frames-{mode}.db", checkpoint_interval_s=3600)
            bare = _Floor(directory / f"frames-floor-{mode}.db")
            bare.conn.execute("PRAGMA wal_autocheckpoint = 0")  # its own commits would empty the WAL meanwhile
            try:
                await _run(held.event, frame_events, batched, None)
                store_frames = await _frames(held.connection(), held.event, None, frame_events, batched)
                floor_frames = await _frames(bare.conn, bare.event, bare, frame_events, batched)
            finally:
                await held.store.close()
                bare.conn.close()
            store_cpu, floor_cpu = statistics.median(cpu["store"]), statistics.median(cpu["floor"])
            figures[mode] = {
                "cpu_us_per_event": {
                    "store": round(store_cpu, 1),
                    "floor": round(floor_cpu, 1),
                    "store_process": round(statistics.median(cpu["store_process"]), 1),
                },
                "cpu_per_round": {k: [round(v, 1) for v in values] for k, values in cpu.items()},
                "wal_frames_per_event": {"store": store_frames, "floor": floor_frames},
                "cpu_store_over_floor": round(store_cpu / floor_cpu, 2),
            }
    return {"handovers": HANDOVERS, "batch": BATCH, "events_per_round": events, "rounds": rounds, **figures}


def run(args: argparse.Namespace) -> None:
    quick = bool(args.quick)
    # The engine runs in this process: its upkeep's lines (a WAL rewound, a checkpoint) are not the figures.
    configure_logging("WARNING")
    fig = asyncio.run(
        measure(events=600 if quick else 6000, rounds=3 if quick else 7, frame_events=BATCH * (10 if quick else 66))
    )
    rows = []
    for mode, label in (("alone", "one event at a time"), ("batched", f"{BATCH} events at once")):
        f = fig[mode]
        cpu = f["cpu_us_per_event"]
        rows.append([label, cpu["store"], cpu["floor"], f["cpu_store_over_floor"], cpu["store_process"],
                     f["wal_frames_per_event"]["store"], f["wal_frames_per_event"]["floor"]])  # fmt: skip
    print_table(
        "store: an agent event recorded and marked delivered (SQLite engine) against a bare SQLite outbox",
        ["path", "loop CPU µs/event: store", "floor", "store/floor", "store's process", "WAL frames/event: store",
         "floor"],
        rows,
    )  # fmt: skip
    print(f"→ {write_results('store', fig, quick=quick)}")
