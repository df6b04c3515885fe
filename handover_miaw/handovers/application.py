"""The application service: the one object the API (and any other surface) talks to.

Built with everything it needs in its constructor and nothing wired afterwards. Its private collaborators
each do one part and never call back into it: the engine (state machine → store → effects, and the streams
this process serves), the start, the user's actions, the watchdog (time-driven inputs) and the ownership
loop (which process serves which handover). The outbox dispatcher is not one of them: it drains what the
engine stores, through the store, and is run beside this service by the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from handover_miaw.delivery.outbox import Outbox
from handover_miaw.errors import NotFoundError, StateConflictError
from handover_miaw.handovers.calls import Call, CallLog
from handover_miaw.handovers.connectors import Connectors
from handover_miaw.handovers.engine import HandoverEngine
from handover_miaw.handovers.ownership import Ownership, StreamLeases, live_handovers
from handover_miaw.handovers.start import Starter, StartRequest
from handover_miaw.handovers.timers import TimerPolicy
from handover_miaw.handovers.user_actions import UserActions
from handover_miaw.handovers.watchdog import Watchdog
from handover_miaw.logs import DELIVERY_SECRETS, secrets
from handover_miaw.manifest import Manifest
from handover_miaw.metrics import Metrics
from handover_miaw.store.base import Store
from handover_miaw.store.cursors import seq_cursor
from handover_miaw.store.durability import Durability
from handover_miaw.store.records import ConnectorRecord, Delivery, DeliveryState, HandoverRecord, Page
from handover_miaw.tasks import stop

__all__ = ["Handovers", "ServiceOptions"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServiceOptions:
    """The runtime settings the service works by."""

    heartbeat_timeout_s: float = 90.0
    request_timeout_s: float = 10.0
    lease_ttl_s: float = 15.0
    timers: TimerPolicy = field(default_factory=TimerPolicy)
    watchdog_interval_s: float = 0.5


class Handovers:
    """Handovers (start, the user's actions, reads, their events), connectors and deliveries."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        session: aiohttp.ClientSession,
        manifest: Manifest,
        metrics: Metrics,
        options: ServiceOptions = ServiceOptions(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.stream_leases = StreamLeases(store.leases(), options.lease_ttl_s)
        self._outbox = outbox
        self._clock = clock
        self._calls = CallLog(then=metrics.miaw_call)  # each handover's recent MIAW calls, for its timeline
        self._connectors = Connectors(store, manifest, session, options.request_timeout_s, self._calls.observe)
        self._engine = HandoverEngine(
            store,
            self.stream_leases,
            outbox,
            self._connectors,
            self._calls,
            session,
            metrics,
            heartbeat_timeout_s=options.heartbeat_timeout_s,
            clock=clock,
        )
        self._starter = Starter(store, self._engine, self._connectors, self.stream_leases, manifest, clock)
        self._user = UserActions(store, self._engine)
        self._watchdog = Watchdog(self._engine, options.timers, interval_s=options.watchdog_interval_s, clock=clock)
        self._ownership = Ownership(
            store, self.stream_leases, self._engine.attach, self._engine.detach, self._engine.served_ids
        )
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def open(self, connectors: Iterable[ConnectorRecord] = ()) -> int:
        """Store the given connectors, take up the live handovers whose lease is free (all of them after a
        restart on SQLite, those of no live process on Redis), finish the stored MIAW calls of recently
        ended ones, and start the ownership and timer loops. Returns how many handovers were resumed."""
        for record in connectors:
            await self.store.put_connector(record)
        for connector in await self.store.list_connectors():
            secrets.add(*(connector.delivery.get(key) for key in DELIVERY_SECRETS))
        await self._ownership.round()
        resumed = len(self._engine.served_ids())
        await self._engine.finish_ended()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._ownership.run(), name="stream-ownership"),
            loop.create_task(self._watchdog.run(), name="handover-watchdog"),
        ]
        return resumed

    async def close(self) -> None:
        """Stop the loops and every stream; hand the streams' leases over at once instead of letting them
        lapse (the handovers stay live in the store for whoever serves them next)."""
        for task in self._tasks:
            await stop(task)
        self._tasks = []
        served = self._engine.served_ids()
        await self._engine.close()
        for handover_id in served:
            with contextlib.suppress(Exception):
                await self.stream_leases.release(handover_id)

    # --- handovers ----------------------------------------------------------------------------------------

    async def start(self, request: StartRequest) -> tuple[HandoverRecord, bool]:
        """Start a handover; returns (record, created). A live one for the same session is returned as is."""
        return await self._starter.start(request)

    async def get(self, handover_id: str) -> HandoverRecord:
        """One handover; NotFoundError when there is none."""
        record = await self.store.get_handover(handover_id)
        if record is None:
            raise NotFoundError(f"handover {handover_id!r} does not exist")
        return record

    async def page(self, state: str | None, limit: int, after: str | None) -> Page[HandoverRecord]:
        """Handovers, newest first, optionally in one state."""
        return await self.store.handovers_page(state, limit, after)

    async def calls(self, handover_id: str) -> list[Call]:
        """The handover's recent MIAW calls made by this process; NotFoundError for an unknown handover."""
        await self.get(handover_id)
        return self._calls.calls(handover_id)

    async def send_message(self, handover_id: str, client_id: str, text: str) -> tuple[str, bool]:
        """A user message, sent once per caller id; returns (MIAW message id, sent by this request)."""
        return await self._user.send_message(handover_id, client_id, text)

    async def send_typing(self, handover_id: str, typing: bool) -> None:
        """The user started or stopped typing."""
        await self._user.send_typing(handover_id, typing)

    async def set_presence(self, handover_id: str, connected: bool) -> bool:
        """The user came back or left; True when the agent was told (the node's settings ask for it)."""
        return await self._user.set_presence(handover_id, connected)

    async def send_file(
        self, handover_id: str, data: bytes, filename: str, content_type: str, text: str | None, client_id: str | None
    ) -> tuple[str, bool]:
        """A file from the user, once per caller id when one is given; returns (MIAW message id, sent now)."""
        return await self._user.send_file(handover_id, data, filename, content_type, text, client_id)

    async def refresh_identity(self, handover_id: str, identity_token: str) -> HandoverRecord:
        """An authenticated user's fresh identity token: the handover goes on with a new access token."""
        return await self._user.refresh_identity(handover_id, identity_token)

    async def end(self, handover_id: str) -> HandoverRecord:
        """The user ends the handover: the MIAW conversation is closed."""
        return await self._user.end(handover_id)

    async def events_after(self, handover_id: str, seq: int) -> tuple[list[Delivery], bool]:
        """The handover's deliveries after sequence number `seq`, in order, and whether more can still come
        (the handover is live, or deliveries are left after these)."""
        deliveries = await self.store.deliveries_after(handover_id, seq)
        if deliveries:
            return deliveries, True
        record = await self.store.get_handover(handover_id)
        return deliveries, record is not None and record.is_live

    @contextlib.asynccontextmanager
    async def wake_on_events(self, handover_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever this process stores deliveries for the handover."""
        wake = self._outbox.signal.listen(handover_id)
        try:
            yield wake
        finally:
            self._outbox.signal.unlisten(handover_id, wake)

    def live_counts(self) -> Mapping[str, int]:
        """Live handovers served here, by state."""
        return self._engine.live_counts()

    # --- connectors ---------------------------------------------------------------------------------------

    async def put_connector(self, name: str, body: Mapping[str, Any]) -> tuple[ConnectorRecord, bool]:
        """Create or replace a connector from a validated body; returns (record, created). Its secrets are
        registered for redaction before it is stored."""
        secrets.add(*(body["delivery"].get(key) for key in DELIVERY_SECRETS))
        record = ConnectorRecord(name=name, config=body["config"], delivery=body["delivery"], updated_at=self._clock())
        existed = await self.store.get_connector(name) is not None
        await self.store.put_connector(record)
        self._connectors.changed(name)
        return record, not existed

    async def connector(self, name: str) -> ConnectorRecord:
        """One connector; NotFoundError when there is none."""
        record = await self.store.get_connector(name)
        if record is None:
            raise NotFoundError(f"connector {name!r} does not exist")
        return record

    async def connectors_page(self, limit: int, after: str | None) -> Page[ConnectorRecord]:
        """Connectors by name."""
        return await self.store.connectors_page(limit, after)

    async def delete_connector(self, name: str) -> None:
        """Remove a connector; StateConflictError while it serves live handovers."""
        await self.connector(name)
        live = [h for h in await live_handovers(self.store) if h.connector == name]
        if live:
            raise StateConflictError(f"connector {name!r} serves {len(live)} live handover(s)")
        await self.store.delete_connector(name)
        self._connectors.changed(name)

    # --- deliveries and health ----------------------------------------------------------------------------

    async def deliveries_page(self, state: DeliveryState | None, limit: int, after: str | None) -> Page[Delivery]:
        """Deliveries, oldest first, optionally in one state."""
        return await self.store.deliveries_page(state, limit, after)

    async def handover_deliveries_page(
        self, handover_id: str, state: DeliveryState | None, limit: int, after: str | None
    ) -> Page[Delivery]:
        """One handover's deliveries by seq, optionally in one state (filtered within the page read, so a page
        may hold fewer than `limit`); ValueError for a cursor that is no seq."""
        found = await self.store.deliveries_after(handover_id, seq_cursor(after), limit + 1)
        more = len(found) > limit
        found = found[:limit]
        items = [d for d in found if state is None or d.state is state]
        return Page(items, str(found[-1].seq) if more else None)

    async def redrive(self, delivery_id: str) -> None:
        """Put a dead delivery back in the outbox; NotFoundError when there is no such dead delivery."""
        if not await self.store.redrive(delivery_id, self._clock()):
            raise NotFoundError(f"no dead delivery {delivery_id!r}")
        self._outbox.wake()

    async def dead_deliveries(self) -> int:
        """How many deliveries are dead letters (on the shared store: the same figure on every process)."""
        return await self.store.count_deliveries(DeliveryState.DEAD)

    async def unreadiness(self) -> tuple[str, str] | None:
        """Why the service cannot take work now, as (code, message); None when the store answers and takes
        writes (a full disk answers reads)."""
        if not await self.store.ping():
            return "store_unavailable", "the store does not answer"
        if not await self.store.probe_write():
            return "store_read_only", "the store refuses writes"
        return None

    async def durability(self) -> Durability:
        """What a restart of the store would lose (a warning, not unreadiness)."""
        return await self.store.durability()
