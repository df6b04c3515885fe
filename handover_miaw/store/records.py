"""What the store holds, as plain typed records. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Generic, TypeVar

__all__ = [
    "HANDOVER_FIELDS",
    "IMMUTABLE_HANDOVER_FIELDS",
    "ConnectorRecord",
    "Delivery",
    "DeliveryState",
    "HandoverRecord",
    "HandoverState",
    "NewDelivery",
    "Page",
    "Retention",
    "UserMessage",
]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items and the engine's cursor for the next page (None on the last one).

    The cursor is opaque outside the engine that made it; each engine rejects one it cannot read with
    ValueError.
    """

    items: list[T]
    next: str | None


@dataclass(frozen=True, slots=True)
class Retention:
    """How long an ended handover is kept once nothing of it is pending (`ended_s`), and at least how long
    while it holds a dead letter waiting for a re-drive (`dead_s`), in seconds; both engines keep these."""

    ended_s: float = 7 * 86400.0
    dead_s: float = 30 * 86400.0


class HandoverState(StrEnum):
    """Lifecycle states: pending → queued → active → ended (a transfer goes back to queued)."""

    PENDING = "pending"
    QUEUED = "queued"
    ACTIVE = "active"
    ENDED = "ended"


class DeliveryState(StrEnum):
    """Outbox states: pending until acknowledged by the receiver, dead after the retry horizon."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class ConnectorRecord:
    """A connector: its manifest-derived configuration and where its deliveries go."""

    name: str
    config: dict[str, Any]
    delivery: dict[str, Any]
    updated_at: float


@dataclass(frozen=True, slots=True)
class HandoverRecord:
    """One handover and everything needed to resume it after a restart."""

    id: str
    connector: str
    session_id: str
    user_id: str
    state: HandoverState
    conversation_id: str
    settings: dict[str, Any]
    transcript: list[dict[str, Any]]
    language: str | None
    context: dict[str, Any]
    routing_attributes: dict[str, str]
    created_at: float
    updated_at: float
    access_token: str | None = None
    token_expires_at: float | None = None
    last_event_id: str | None = None
    agent_name: str | None = None
    queue_position: int | None = None
    estimated_wait_s: int | None = None
    end_status: str | None = None
    end_reason: str | None = None
    ended_at: float | None = None
    # When the handover last entered the queue (created, or transferred back); None once an agent joined.
    queued_at: float | None = None
    # MIAW calls decided with the last transition and not yet done (close the conversation, read the
    # routing status, notify the agent), stored with it so a crash in between cannot lose them.
    pending_effects: list[dict[str, Any]] | None = None

    @property
    def is_live(self) -> bool:
        """True until the handover has ended."""
        return self.state is not HandoverState.ENDED


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to enqueue; the store assigns its sequence number."""

    id: str
    handover_id: str
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery in the outbox, ordered per handover by `seq`."""

    seq: int
    id: str
    handover_id: str
    connector: str
    type: str
    payload: dict[str, Any]
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None = None
    delivered_at: float | None = None


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A user message as the store remembers it: the MIAW id is chosen once and reused on every retry."""

    handover_id: str
    client_message_id: str
    miaw_message_id: str
    state: str
    created_at: float
    extra: dict[str, Any] = field(default_factory=dict)


# The field rules every engine shares.
HANDOVER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(HandoverRecord))
# A handover's identity: deliveries copy its connector at enqueue, and the live-session index is keyed on
# (connector, session_id), so changing these would silently detach what was stored under them.
IMMUTABLE_HANDOVER_FIELDS = frozenset({"id", "connector", "session_id"})
