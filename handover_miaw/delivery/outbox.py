"""The outbox as the handover engine sees it: each delivery a transition causes is built here (stable id,
envelope) and stored by the engine in the same write as the transition; once stored, the dispatcher and
the SSE readers of that handover are woken. Pure apart from the in-process wake-ups."""

from __future__ import annotations

import asyncio
from typing import Any

from handover_miaw.delivery.envelope import delivery_id, envelope
from handover_miaw.store.records import HandoverRecord, NewDelivery

__all__ = ["Outbox", "OutboxSignal"]


class OutboxSignal:
    """Wakes the dispatcher and the SSE readers when deliveries are enqueued."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._listeners: dict[str, set[asyncio.Event]] = {}

    def notify(self, handover_id: str) -> None:
        """New deliveries exist for this handover."""
        self._event.set()
        for listener in self._listeners.get(handover_id, ()):
            listener.set()

    def poke(self) -> None:
        """Wake the dispatcher (an attempt it stopped waiting for has ended)."""
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Wait for a notification or `seconds`, whichever comes first."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return
        finally:
            self._event.clear()

    def listen(self, handover_id: str) -> asyncio.Event:
        """An event set whenever this handover gets deliveries; call `unlisten` when done."""
        event = asyncio.Event()
        self._listeners.setdefault(handover_id, set()).add(event)
        return event

    def unlisten(self, handover_id: str, event: asyncio.Event) -> None:
        """Stop listening."""
        listeners = self._listeners.get(handover_id)
        if listeners is not None:
            listeners.discard(event)
            if not listeners:
                del self._listeners[handover_id]


class Outbox:
    """The port the handover engine writes deliveries through."""

    def __init__(self, signal: OutboxSignal | None = None) -> None:
        self.signal = signal or OutboxSignal()

    def entry(self, handover: HandoverRecord, type_: str, data: dict[str, Any], key: str, now: float) -> NewDelivery:
        """The delivery of one effect, ready to be stored with its transition; `key` names its cause."""
        ident = delivery_id(handover.id, key)
        body = envelope(
            id=ident,
            type=type_,
            handover_id=handover.id,
            connector=handover.connector,
            session_id=handover.session_id,
            user_id=handover.user_id,
            occurred_at=now,
            data=data,
        )
        return NewDelivery(id=ident, handover_id=handover.id, type=type_, payload=body)

    def stored(self, handover_id: str) -> None:
        """Deliveries of this handover were stored: wake whoever drains or streams them."""
        self.signal.notify(handover_id)

    def wake(self) -> None:
        """Deliveries became due outside a transition (a re-drive): wake the dispatcher."""
        self.signal.notify("")
