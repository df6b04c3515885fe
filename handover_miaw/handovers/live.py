"""The in-memory side of live handovers: their MIAW client, token, event stream and lock.

The supervisor owns every stream task: it starts them, retires a stream when its handover ends (from a
task of its own, since the end is often decided inside the stream's own callback), and on shutdown closes
them all and waits, so no task outlives the application.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import NamedTuple

import structlog

from handover_miaw.handovers.node_settings import NodeSettings
from handover_miaw.logs import secrets
from handover_miaw.miaw import AccessToken, MiawClient
from handover_miaw.miaw.stream import EventStream
from handover_miaw.store.records import HandoverRecord, HandoverState

__all__ = ["LiveHandover", "Quiet", "Supervisor", "stored_token"]

log = structlog.get_logger(__name__)


class Quiet(NamedTuple):
    """Nothing is due before `until` while the record, token and warning are these: the watchdog compares
    record and token by identity, as both are replaced, never changed."""

    record: HandoverRecord
    token: AccessToken
    warned_for: float | None
    until: float


@dataclass
class LiveHandover:
    """A handover this process serves."""

    record: HandoverRecord
    client: MiawClient
    token: AccessToken
    stream: EventStream | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The token expiry the agent and the bot were last warned about (the warning is given once per token).
    warned_for: float | None = None
    # The watchdog's last verdict on this handover (see Quiet).
    quiet: Quiet | None = None

    def adopt(self, record: HandoverRecord) -> None:
        """Take the stored record as this handover's, with the access token stored in it when that is another
        one (renewed through another process): the stream reconnects and the watchdog judges expiry by it."""
        self.record = record
        if record.access_token is not None and record.access_token != self.token.token:
            self.token = stored_token(record)
            if self.stream is not None:
                self.stream.set_token(self.token)


def stored_token(record: HandoverRecord) -> AccessToken:
    """The access token stored with a live handover, registered for redaction."""
    assert record.access_token is not None
    secrets.add(record.access_token)
    return AccessToken(
        token=record.access_token,
        last_event_id=record.last_event_id,
        subject=None,
        expires_at=record.token_expires_at,
        authenticated=NodeSettings.of(record.settings).use_identity_token,
    )


class Supervisor:
    """Owner of the live handovers' streams."""

    def __init__(self) -> None:
        self.live: dict[str, LiveHandover] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def add(self, handover: LiveHandover) -> None:
        """Serve a handover."""
        self.live[handover.record.id] = handover

    def get(self, handover_id: str) -> LiveHandover | None:
        """The live handover, if this process serves it."""
        return self.live.get(handover_id)

    def counts(self) -> dict[str, int]:
        """The handovers served here that are live, by state."""
        counts = {state.value: 0 for state in HandoverState if state is not HandoverState.ENDED}
        for live in self.live.values():
            if live.record.is_live:
                counts[live.record.state.value] += 1
        return counts

    def retire(self, handover_id: str) -> None:
        """Stop serving a handover; its stream is closed by a task the supervisor owns."""
        handover = self.live.pop(handover_id, None)
        if handover is None or handover.stream is None:
            return
        task = asyncio.get_running_loop().create_task(handover.stream.aclose(), name=f"retire:{handover_id}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Close every stream and wait for every retiring task."""
        streams = [h.stream for h in self.live.values() if h.stream is not None]
        self.live.clear()
        await asyncio.gather(*(s.aclose() for s in streams), *self._retiring, return_exceptions=True)
