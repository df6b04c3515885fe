"""Builders shared by the store tests: a settable clock and realistic records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from handover_miaw.store import Store
from handover_miaw.store.records import HandoverRecord, HandoverState, NewDelivery

T0 = 1_700_000_000.0

# Opens a store on the test's storage; a second call is the same data after a restart.
OpenStore = Callable[[], Awaitable[Store]]


class Clock:
    """A settable clock the store stamps times with, so tests never sleep."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def handover(
    handover_id: str = "h1", *, session_id: str | None = None, connector: str = "acme", **fields: Any
) -> HandoverRecord:
    """A realistic handover record; any field may be overridden."""
    values: dict[str, Any] = {
        "id": handover_id,
        "connector": connector,
        "session_id": session_id or f"session-{handover_id}",
        "user_id": "user-1",
        "state": HandoverState.PENDING,
        "conversation_id": f"conv-{handover_id}",
        "settings": {"forwardEvents": True, "queue": "Support"},
        "transcript": [{"role": "user", "text": "I need a human"}, {"role": "bot", "text": "Connecting you"}],
        "language": "en",
        "context": {"orderId": "A-1", "nested": {"list": [1, 2.5, None]}},
        "routing_attributes": {"Tier": "gold"},
        "created_at": T0,
        "updated_at": T0,
        "access_token": "tok-secret",
        "token_expires_at": T0 + 3600,
    }
    values.update(fields)
    return HandoverRecord(**values)


def new_delivery(delivery_id: str, handover_id: str = "h1", kind: str = "agent.message") -> NewDelivery:
    """A delivery to enqueue, its payload naming its id so order is easy to read back."""
    return NewDelivery(delivery_id, handover_id, kind, {"text": f"message {delivery_id}"})
