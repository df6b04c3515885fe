"""The event router's memory: numbered events per token subject and the open streams listening to them.

Event ids are one global, strictly increasing counter (sent as strings), so ``Last-Event-Id`` from any
stream or from a token response is comparable. Subscribing and computing the replay happen without an
``await`` in between, so no event can fall between the replay and the live feed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["CLOSE", "LOG_LIMIT", "EventHub", "StoredEvent", "Subscription"]


@dataclass(frozen=True)
class StoredEvent:
    """One published event, ready to write (``payload`` is the finished SSE frame)."""

    id: int
    subject: str
    event_type: str
    payload: bytes


LOG_LIMIT = 10_000
"""Events kept per subject for replay; older ones are only visible through list-entries."""

CLOSE = None
"""Queue item telling a stream to end."""


@dataclass(eq=False)
class Subscription:
    """One open stream of ``subject``; the SSE handler drains ``queue``."""

    subject: str
    queue: asyncio.Queue[StoredEvent | None] = field(default_factory=asyncio.Queue)
    delivered: int = 0

    def close(self) -> None:
        """Ask the stream to end after what is already queued."""
        self.queue.put_nowait(CLOSE)


class EventHub:
    """Publishes events to subscribers of a subject and keeps a log for replay."""

    def __init__(self) -> None:
        self.last_event_id = 0
        self._log: dict[str, list[StoredEvent]] = {}
        # By subject: publishing must not visit every open stream of every other subject.
        self._subscriptions: dict[str, set[Subscription]] = {}

    def next_id(self) -> int:
        """Reserve the next event id (the frame needs it before the event exists)."""
        self.last_event_id += 1
        return self.last_event_id

    def publish(self, event: StoredEvent, *, twice: bool = False) -> None:
        """Log ``event`` and queue it on every open stream of its subject (twice on request)."""
        log = self._log.setdefault(event.subject, [])
        log.append(event)
        if len(log) > LOG_LIMIT:
            # Long benchmark runs must not grow memory without bound.
            del log[: len(log) - LOG_LIMIT]
        for subscription in self._subscriptions.get(event.subject, ()):
            subscription.queue.put_nowait(event)
            if twice:
                subscription.queue.put_nowait(event)

    def subscribe(self, subject: str, after_id: int | None) -> tuple[Subscription, list[StoredEvent]]:
        """Open a stream; returns it and the logged events newer than ``after_id`` (none if None)."""
        subscription = Subscription(subject)
        self._subscriptions.setdefault(subject, set()).add(subscription)
        if after_id is None:
            return subscription, []
        return subscription, [e for e in self._log.get(subject, []) if e.id > after_id]

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a stream that ended."""
        streams = self._subscriptions.get(subscription.subject)
        if streams is not None:
            streams.discard(subscription)
            if not streams:
                del self._subscriptions[subscription.subject]

    @property
    def open_streams(self) -> int:
        """How many streams are connected."""
        return sum(len(streams) for streams in self._subscriptions.values())

    def forget_subjects(self, keep: set[str]) -> int:
        """Drop the replay log of every subject outside ``keep`` that has no open stream; returns how many."""
        gone = [s for s in self._log if s not in keep and s not in self._subscriptions]
        for subject in gone:
            del self._log[subject]
        return len(gone)

    def close_all(self) -> None:
        """End every open stream (fault injection, token expiry, shutdown)."""
        for streams in self._subscriptions.values():
            for subscription in streams:
                subscription.close()
