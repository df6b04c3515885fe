"""The store interface every engine implements (SQLite embedded by default, Redis for several processes).

Writes that must happen together (an event's dedupe mark, the handover's new state, its cursor and the
deliveries it causes) are one method, so an engine can make them atomic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from handover_miaw.store.durability import Durability
from handover_miaw.store.leases import Leases
from handover_miaw.store.records import (
    ConnectorRecord,
    Delivery,
    DeliveryState,
    HandoverRecord,
    NewDelivery,
    Page,
    UserMessage,
)

__all__ = ["DuplicateHandoverError", "StaleRecordError", "Store"]


class DuplicateHandoverError(Exception):
    """A live handover already exists for this (connector, session id)."""

    def __init__(self, existing: HandoverRecord) -> None:
        super().__init__(existing.id)
        self.existing = existing


class StaleRecordError(Exception):
    """A guarded write found the handover changed since the caller's copy (another writer stamped it)."""


class Store(Protocol):
    """Async persistence for connectors, handovers, processed MIAW entries, user messages and the outbox."""

    async def open(self) -> None:
        """Connect and create the schema if needed."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> bool:
        """True when the engine answers (readiness)."""

    async def probe_write(self) -> bool:
        """True when a (harmless) write lands: a full disk or a Redis refusing writes answers reads still."""

    async def durability(self) -> Durability:
        """What a restart of the store would lose (logged at start, shown by /readyz); never raises."""

    def leases(self) -> Leases:
        """The leases that go with this store: on its own connections and under its namespace, usable
        while it is open; they have no connections of their own to open or close."""

    # Connectors
    async def put_connector(self, record: ConnectorRecord) -> None:
        """Create or replace a connector."""

    async def get_connector(self, name: str) -> ConnectorRecord | None:
        """One connector, or None."""

    async def list_connectors(self) -> list[ConnectorRecord]:
        """Every connector, by name."""

    async def delete_connector(self, name: str) -> bool:
        """Remove a connector; False when there was none."""

    async def connectors_page(self, limit: int, after: str | None = None) -> Page[ConnectorRecord]:
        """Up to `limit` connectors by name, after the cursor of the previous page."""

    # Handovers
    async def create_handover(self, record: HandoverRecord) -> None:
        """Insert a new handover; raise DuplicateHandoverError when a live one exists for its session."""

    async def get_handover(self, handover_id: str) -> HandoverRecord | None:
        """One handover, or None."""

    async def find_live_handover(self, connector: str, session_id: str) -> HandoverRecord | None:
        """The live handover of a session, if any."""

    async def list_handovers(self, state: str | None = None, limit: int = 100) -> list[HandoverRecord]:
        """Handovers, newest first, optionally in one state."""

    async def handovers_page(self, state: str | None, limit: int, after: str | None = None) -> Page[HandoverRecord]:
        """Up to `limit` handovers, newest first, after the cursor of the previous page (stable under inserts:
        a handover created meanwhile sorts before the first page and is never returned twice)."""

    async def live_handover_ids(self) -> set[str]:
        """The ids of every handover that has not ended, without reading the records."""

    async def update_handover(self, handover_id: str, changes: Mapping[str, Any]) -> HandoverRecord:
        """Apply field changes (names of HandoverRecord fields) and return the new record."""

    async def record_event(
        self,
        handover_id: str,
        entry_id: str | None,
        changes: Mapping[str, Any],
        deliveries: Sequence[NewDelivery],
        *,
        expected_updated_at: float | None = None,
    ) -> bool:
        """Atomically: mark entry_id processed, apply changes, enqueue deliveries.

        Returns False, and changes nothing, when entry_id was already processed (a duplicate event).
        entry_id None means "not a MIAW entry" (e.g. a user action) and is never deduplicated.
        With `expected_updated_at`, raises StaleRecordError, changing nothing, unless the record is stored
        with that updated_at (one deleted is stale too): a caller writing from its own copy learns that
        another writer got there.
        """

    # User messages (idempotency on the caller's id)
    async def get_user_message(self, handover_id: str, client_message_id: str) -> UserMessage | None:
        """The message stored under this caller id, if any."""

    def single_process(self) -> bool:
        """True when no other process uses this store (the embedded SQLite file): what this process claims in
        memory is then claimed everywhere, and a user message needs no reservation in the store."""

    async def mark_user_message_sent(
        self, handover_id: str, client_message_id: str, miaw_message_id: str, digest: str | None = None
    ) -> None:
        """Record that MIAW accepted the message, in one write; a MIAW id and a text `digest` already stored for
        the caller id are kept (`extra["digest"]` of get_user_message). KeyError when the handover does not
        exist."""

    async def reserve_user_message(
        self, handover_id: str, client_message_id: str, miaw_message_id: str, digest: str, hold_s: float
    ) -> tuple[bool, UserMessage]:
        """Claim the sending of a caller's message for `hold_s` seconds, atomically across processes.

        (True, message) when the caller now holds it: nothing was stored, or a reservation that lapsed (its
        holder died) for the same text `digest`; `message.miaw_message_id` is the id to send under (an id
        stored earlier is kept). (False, stored) otherwise: sent, or reserved by someone else and not
        lapsed, or a lapsed one for another text; `stored.extra["digest"]` is the text it was for (absent
        for messages stored before digests were kept). KeyError when the handover does not exist."""

    async def release_user_message(self, handover_id: str, client_message_id: str) -> None:
        """Drop a reservation that was not sent (the MIAW call failed), so a retry may claim it at once;
        a sent message is kept."""

    # Outbox
    async def due_deliveries(self, now: float, limit: int = 100) -> list[Delivery]:
        """The oldest pending delivery of each handover whose next attempt is due (head of line only)."""

    async def mark_delivered(self, delivery_id: str, now: float) -> None:
        """The receiver acknowledged it."""

    async def mark_delivered_many(self, delivered: Sequence[tuple[str, float]]) -> None:
        """The receiver acknowledged these (delivery id, when): settled in one write; one no longer pending
        (settled already, or purged) is left alone."""

    async def mark_retry(self, delivery_id: str, next_attempt_at: float, error: str) -> None:
        """A failed attempt: count it and schedule the next."""

    async def mark_dead(self, delivery_id: str, error: str) -> None:
        """Give up after the retry horizon; later deliveries of the handover may proceed."""

    async def redrive(self, delivery_id: str, now: float) -> bool:
        """Put a dead delivery back to pending; False when it is not dead."""

    async def list_deliveries(self, state: DeliveryState | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, oldest first, optionally in one state."""

    async def deliveries_page(
        self, state: DeliveryState | None, limit: int, after: str | None = None
    ) -> Page[Delivery]:
        """Up to `limit` deliveries, oldest first (by seq), after the cursor of the previous page."""

    async def count_deliveries(self, state: DeliveryState) -> int:
        """How many deliveries are in this state (the dead-letter gauge)."""

    async def deliveries_after(self, handover_id: str, after_seq: int, limit: int = 500) -> list[Delivery]:
        """A handover's deliveries with seq > after_seq, in order (SSE replay)."""
