"""Which process serves which live handover, when several runtime processes share one Redis store.

Every `interval` the owner loop renews the leases of the handovers this process serves (a lost lease means
another process took over: the stream is detached, never ended) and tries to acquire the lease of every
live handover nobody serves — those of a process that died, once their lease has lapsed. Acquiring means
resuming: the stream re-opens from the stored cursor and catches up through list-entries, and the store's
processed-entry ids make sure nothing is delivered twice. Takeover time is bounded by the lease TTL plus
one interval.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import structlog

from handover_miaw.store.base import Store
from handover_miaw.store.leases import Leases
from handover_miaw.store.records import HandoverRecord, HandoverState

__all__ = ["Ownership", "StreamLeases", "live_handovers", "stream_lease"]

log = structlog.get_logger(__name__)

_BATCH = 200


async def live_handovers(store: Store) -> list[HandoverRecord]:
    """Every handover that has not ended, read through the per-state indexes."""
    found: list[HandoverRecord] = []
    for state in (HandoverState.PENDING, HandoverState.QUEUED, HandoverState.ACTIVE):
        found.extend(await store.list_handovers(state=state.value, limit=1_000_000))
    return found


def stream_lease(handover_id: str) -> str:
    """The lease name of a handover's event stream."""
    return f"stream:{handover_id}"


@dataclass(frozen=True)
class StreamLeases:
    """The stream leases of this process's handovers: one per live handover, named after it."""

    leases: Leases
    ttl_s: float = 15.0
    owner: str = field(default_factory=lambda: f"{uuid.uuid4().hex[:12]}")

    async def claim(self, handover_id: str) -> bool:
        """Take (or renew) the lease of a handover this process starts or serves."""
        return await self.leases.acquire(stream_lease(handover_id), self.owner, self.ttl_s)

    async def release(self, handover_id: str) -> None:
        """Give up the lease of a handover that ended here or that this process stops serving."""
        await self.leases.release(stream_lease(handover_id), self.owner)


@dataclass
class Ownership:
    """The lease loop of one process. `attach`/`detach` start and stop serving a handover."""

    store: Store
    leases: StreamLeases
    attach: Callable[[HandoverRecord], Awaitable[None]]
    detach: Callable[[str], Awaitable[None]]
    served: Callable[[], Iterable[str]]

    @property
    def interval_s(self) -> float:
        """Renew three times per TTL, so one slow round never loses a lease."""
        return self.leases.ttl_s / 3

    async def run(self) -> None:
        """Renew and acquire forever (cancelled by the application on shutdown)."""
        while True:
            started = time.monotonic()
            try:
                await self.round()
            except Exception:  # a store hiccup must not end ownership: try again next round
                log.exception("ownership.round_failed", owner=self.leases.owner)
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def _still_live(self, handover_id: str) -> bool:
        """Read again before giving a lease up: a start inserts its handover and marks it served while
        the round waits for its list of live ids, which can then predate the insert; releasing would let
        another process take the half-started handover and end it as `interrupted`."""
        record = await self.store.get_handover(handover_id)
        return record is not None and record.is_live

    async def round(self) -> None:
        """One round: renew what we serve, then pick up what nobody serves.

        The round reads the live ids once, not every record: on SQLite the store answers inline, so a
        record read per served handover stalled the event loop every round, for longer the more handovers
        it served (`python -m bench start`, p99). It also yields every `_BATCH` handovers.
        """
        live = await self.store.live_handover_ids()
        # Read after the store: a start marks its handover as served right after inserting it, so a list
        # taken before the wait could miss a handover the store then shows live (it was ended as
        # `interrupted`, found by `python -m bench soak`).
        served = list(self.served())
        for index, handover_id in enumerate(served, 1):
            if not await self.leases.claim(handover_id):
                log.warning("ownership.lease_lost", handover_id=handover_id, owner=self.leases.owner)
                await self.detach(handover_id)
            elif handover_id not in live and not await self._still_live(handover_id):
                # Ended through another process: nothing arrives for it any more.
                await self.detach(handover_id)
                await self.leases.release(handover_id)
            if index % _BATCH == 0:
                await asyncio.sleep(0)
        for handover_id in live.difference(served):
            if not await self.leases.claim(handover_id):
                continue
            record = await self.store.get_handover(handover_id)
            if record is None or not record.is_live:
                await self.leases.release(handover_id)
                continue
            log.info("ownership.acquired", handover_id=handover_id, owner=self.leases.owner)
            await self.attach(record)
