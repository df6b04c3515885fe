"""The handover service: executes what the state machine decides, against MIAW and the store.

Starting lives in `start.py`, the user's side in `user.py`. Every MIAW event goes through `machine.step`;
its changes, the processed entry id and the deliveries it causes are written in one store call before any
effect runs, so a duplicate or replayed event is recognised and nothing is delivered twice.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import structlog

from handover_miaw.delivery.dispatcher import OutboxSignal
from handover_miaw.delivery.envelope import delivery_id, envelope
from handover_miaw.errors import NotFoundError, StateConflictError, UpstreamRefusedError, UpstreamUnavailableError
from handover_miaw.handovers import machine
from handover_miaw.handovers.calls import CallLog, for_handover
from handover_miaw.handovers.connectors import Connectors
from handover_miaw.handovers.credentials import erased_tokens, lean_token
from handover_miaw.handovers.ids import derived_message_id
from handover_miaw.handovers.live import LiveHandover, Supervisor
from handover_miaw.logs import secrets
from handover_miaw.manifest import Manifest
from handover_miaw.metrics import Metrics
from handover_miaw.miaw import (
    AccessToken,
    MiawError,
    MiawRateLimitedError,
    MiawServerError,
    MiawTransportError,
)
from handover_miaw.miaw.events import MiawEvent
from handover_miaw.miaw.stream import EventStream, StreamState, StreamStatus
from handover_miaw.store.base import Store
from handover_miaw.store.records import HandoverRecord, HandoverState, NewDelivery

__all__ = ["HandoverService", "upstream_error"]

log = structlog.get_logger(__name__)


def upstream_error(exc: MiawError) -> UpstreamRefusedError | UpstreamUnavailableError:
    if isinstance(exc, MiawTransportError):
        return UpstreamUnavailableError(f"Salesforce did not answer: {exc.message}")
    if isinstance(exc, MiawServerError | MiawRateLimitedError):
        # Still failing after the client's retries: unavailable for now, worth retrying with the same id.
        return UpstreamUnavailableError(f"Salesforce is unavailable: {exc.message}")
    return UpstreamRefusedError(f"Salesforce refused the request: {exc.message}")


async def _always(_handover_id: str) -> bool:
    return True


async def _nothing(_handover_id: str) -> None:
    return None


class HandoverService:
    """Starts, serves and ends handovers."""

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        signal: OutboxSignal,
        *,
        heartbeat_timeout_s: float = 90.0,
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.session = session
        self.metrics = metrics
        self.signal = signal
        self.supervisor = Supervisor()
        # Handovers being started here: served before their stream is (see Starter.start).
        self.starting: set[str] = set()
        self.calls = CallLog(then=metrics.miaw_call)  # each handover's recent MIAW calls, for its timeline
        self.connectors = Connectors(store, manifest, session, request_timeout_s, self.calls.observe)
        # Set by the application when leases are in use (several processes on one store).
        self.claim: Callable[[str], Awaitable[bool]] = _always
        self.release: Callable[[str], Awaitable[None]] = _nothing
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self.clock = clock

    def attach_stream(self, live: LiveHandover, *, resume: bool) -> None:
        """Open and wire the handover's event stream (from the stored cursor when resuming)."""
        handover_id = live.record.id

        async def on_event(event: MiawEvent) -> None:
            if not machine.inert(event):
                await self.apply(handover_id, event, entry_id=event.entry_id, cursor=event.event_id)

        async def on_state(status: StreamStatus) -> None:
            if status.state is StreamState.RECONNECTING:
                self.metrics.stream_reconnects.inc()
            elif status.state is StreamState.TOKEN_EXPIRED:
                await self.apply(handover_id, machine.EndRequested("error", "token_expired"), entry_id=None)
            elif status.state is StreamState.FAILED:
                await self.apply(handover_id, machine.EndRequested("error", "stream_failed"), entry_id=None)

        async def on_token(token: AccessToken) -> None:
            secrets.add(token.token)
            live.token = lean_token(token)
            await self.store.update_handover(handover_id, {"access_token": token.token})

        live.stream = EventStream(
            live.client,
            live.token,
            on_event=on_event,
            on_state=on_state,
            on_token=on_token,
            skip=machine.inert_sse,
            conversation_ids=[live.record.conversation_id],
            last_event_id=live.record.last_event_id if resume else None,
            session=self.session,
            heartbeat_timeout=self.heartbeat_timeout_s,
            name=handover_id,
        )
        with for_handover(handover_id):  # the stream's task inherits the attribution of its MIAW calls
            live.stream.start()

    # --- applying inputs --------------------------------------------------------------------------------

    async def apply(
        self,
        handover_id: str,
        event: machine.Input,
        *,
        entry_id: str | None,
        cursor: str | None = None,
        via: LiveHandover | None = None,
    ) -> HandoverRecord | None:
        """Run one input through the state machine, persist it atomically, then execute its effects.

        `via` is a transient view (live_for) when this process does not serve the handover's stream, so
        effects such as closing the conversation still run.
        """
        with for_handover(handover_id):  # its MIAW calls are this handover's
            live = self.supervisor.get(handover_id) or via
            if live is None:
                record = await self.store.get_handover(handover_id)
                if record is None or not record.is_live:
                    return record
                return await self._apply_locked(record, None, event, entry_id, cursor)
            async with live.lock:
                # Read the stored record, not the in-memory one: another process may have changed it (the user
                # ended the handover through it, or it renewed the token).
                record = await self.store.get_handover(handover_id)
                if record is None:
                    return None
                live.record = record
                if not record.is_live:
                    await self._stop_serving(handover_id)
                    return record
                return await self._apply_locked(record, live, event, entry_id, cursor)

    async def _stop_serving(self, handover_id: str) -> None:
        if self.supervisor.get(handover_id) is not None:
            # Release before retiring: this often runs inside the stream's own callback, and the retire
            # cancels that task; a cancel landing in the lease release's Redis call was lost, and the stream
            # went back to reading, never to close (tests/runtime/test_ownership.py, the close test).
            await self.release(handover_id)
            self.supervisor.retire(handover_id)

    async def _apply_locked(
        self,
        record: HandoverRecord,
        live: LiveHandover | None,
        event: machine.Input,
        entry_id: str | None,
        cursor: str | None,
    ) -> HandoverRecord:
        connector = await self.connectors.cached(record.connector)
        forward = bool(connector and self.manifest.connector_with_defaults(connector.config).get("forwardEvents"))
        policy = machine.Policy(
            forward_events=forward, end_on_participant_change=bool(record.settings.get("endOnParticipantChange"))
        )
        snapshot = machine.Snapshot(record.state, record.agent_name, record.queue_position, record.estimated_wait_s)
        transition = machine.step(snapshot, event, policy)
        now = self.clock()
        changes: dict[str, Any] = dict(transition.changes)
        if cursor is not None:
            changes["last_event_id"] = cursor
        if transition.new_state is HandoverState.ENDED:
            changes["ended_at"] = now
        elif transition.new_state is HandoverState.QUEUED and record.state is not HandoverState.QUEUED:
            changes["queued_at"] = now  # the queue limit counts from here (creation, or a transfer)
        elif transition.new_state is HandoverState.ACTIVE:
            changes["queued_at"] = None
        deliveries = [
            self._new_delivery(record, effect, now)
            for effect in transition.effects
            if isinstance(effect, machine.Deliver)
        ]
        calls = [stored for effect in transition.effects if (stored := machine.stored_effect(effect)) is not None]
        if calls:
            changes["pending_effects"] = [*(record.pending_effects or []), *calls]
        elif transition.new_state is HandoverState.ENDED:
            changes.update(erased_tokens(record))
        if not changes and not deliveries and entry_id is None:
            return record
        if not await self.store.record_event(record.id, entry_id, changes, deliveries):
            return record  # a duplicate MIAW entry: already processed
        updated = dataclasses.replace(record, **changes, updated_at=now)
        if live is not None:
            live.record = updated
        if deliveries:
            self.signal.notify(record.id)
        if transition.new_state is not None and transition.new_state is not record.state:
            self.metrics.handover_transitions.labels(transition.new_state.value).inc()
            log.info(
                f"handover.{transition.new_state.value}",
                handover_id=record.id,
                connector=record.connector,
                session_id=record.session_id,
                reason=changes.get("end_reason"),
            )
        for effect in transition.effects:
            await self._execute(updated, live, effect)
        if calls and live is not None:  # without a live view the calls stay stored for the serving process
            done: dict[str, Any] = {"pending_effects": None}
            if updated.state is HandoverState.ENDED:
                done.update(erased_tokens(updated))
            updated = await self.store.update_handover(record.id, done)
            live.record = updated
        if updated.state is HandoverState.ENDED:
            self.calls.ended(record.id)
            await self._stop_serving(record.id)
            secrets.discard(record.access_token, record.settings.get("identityToken"))
        return updated

    def _new_delivery(self, record: HandoverRecord, effect: machine.Deliver, now: float) -> NewDelivery:
        ident = delivery_id(record.id, effect.key)
        body = envelope(
            id=ident,
            type=effect.type,
            handover_id=record.id,
            connector=record.connector,
            session_id=record.session_id,
            user_id=record.user_id,
            occurred_at=now,
            data=effect.data,
        )
        return NewDelivery(id=ident, handover_id=record.id, type=effect.type, payload=body)

    async def _execute(self, record: HandoverRecord, live: LiveHandover | None, effect: machine.Effect) -> None:
        if isinstance(effect, machine.Deliver) or live is None:
            return
        try:
            if isinstance(effect, machine.CheckRoutingStatus):
                status = await live.client.routing_status(live.token, record.conversation_id)
                observed = machine.RoutingStatusObserved(status.status or "UNKNOWN", effect.cause_entry_id)
                await self._apply_locked(live.record, live, observed, None, None)
            elif isinstance(effect, machine.CloseConversation):
                await live.client.close_conversation(live.token, record.conversation_id)
            elif isinstance(effect, machine.NotifyAgent):
                message_id = derived_message_id(record.id, "notice", effect.key)
                await live.client.send_message(
                    live.token,
                    record.conversation_id,
                    effect.text,
                    message_id=message_id,
                    routing_attributes=record.routing_attributes,
                    language=record.language,
                )
        except MiawError as exc:
            log.warning("miaw.effect_failed", handover_id=record.id, effect=type(effect).__name__, error=exc.code)
            if isinstance(effect, machine.CheckRoutingStatus):
                # Without the status a leave cannot be told from a transfer: treat it as a leave.
                observed = machine.RoutingStatusObserved("UNKNOWN", effect.cause_entry_id)
                await self._apply_locked(live.record, live, observed, None, None)

    async def end_now(self, handover_id: str, status: str, reason: str, via: LiveHandover | None = None) -> None:
        """End a handover now for a reason the runtime found (MIAW refused, the token expired, ...)."""
        await self.apply(handover_id, machine.EndRequested(status, reason), entry_id=None, via=via)
        await self._stop_serving(handover_id)

    # --- the user's side --------------------------------------------------------------------------------

    async def live_for(self, handover_id: str) -> LiveHandover:
        """The handover to act on for the user: the one this process serves, else a transient one built from
        the store (its stream is served by another process; REST calls need only the client and token)."""
        live = self.supervisor.get(handover_id)
        if live is not None and live.record.is_live:
            return live
        record = await self.store.get_handover(handover_id)
        if record is None:
            raise NotFoundError(f"handover {handover_id!r} does not exist")
        connector = await self.store.get_connector(record.connector)
        if not record.is_live or record.access_token is None or connector is None:
            raise StateConflictError(f"handover {handover_id!r} has ended ({record.end_reason or record.state})")
        return LiveHandover(record, self.connectors.client_for(connector), self._stored_token(record))

    @staticmethod
    def _stored_token(record: HandoverRecord) -> AccessToken:
        assert record.access_token is not None
        secrets.add(record.access_token)
        return AccessToken(
            token=record.access_token,
            last_event_id=record.last_event_id,
            subject=None,
            expires_at=record.token_expires_at,
            authenticated=bool(record.settings.get("useIdentityToken")),
        )

    async def get(self, handover_id: str) -> HandoverRecord:
        """One handover."""
        record = await self.store.get_handover(handover_id)
        if record is None:
            raise NotFoundError(f"handover {handover_id!r} does not exist")
        return record

    # --- lifecycle --------------------------------------------------------------------------------------

    def served_ids(self) -> list[str]:
        """Handovers whose stream this process serves, or is opening."""
        return [*self.supervisor.live, *self.starting.difference(self.supervisor.live)]

    async def attach(self, record: HandoverRecord) -> None:
        """Serve a live handover whose lease this process just took: re-open its stream from the stored
        cursor (a restart, or a takeover from a process that died); end one caught mid-start."""
        connector = await self.store.get_connector(record.connector)
        if record.state is HandoverState.PENDING or record.access_token is None or connector is None:
            await self.apply(record.id, machine.EndRequested("error", "interrupted"), entry_id=None)
            return
        live = LiveHandover(record, self.connectors.client_for(connector), self._stored_token(record))
        self.supervisor.add(live)
        self.attach_stream(live, resume=True)
        log.info("handover.resumed", handover_id=record.id, connector=record.connector, state=record.state.value)
        if record.pending_effects:
            async with live.lock:
                await self._finish_effects(live)

    async def _finish_effects(self, live: LiveHandover) -> None:
        """Do the MIAW calls a previous process stored with a transition but did not get to make."""
        pending = live.record.pending_effects or []
        log.info("handover.finishing_effects", handover_id=live.record.id, effects=[e.get("type") for e in pending])
        for stored in pending:
            effect = machine.effect_from_stored(stored)
            if effect is not None:
                await self._execute(live.record, live, effect)
        done: dict[str, Any] = {"pending_effects": None}
        if not live.record.is_live:
            done.update(erased_tokens(live.record))
        live.record = await self.store.update_handover(live.record.id, done)

    async def finish_ended(self) -> int:
        """At start: finish the stored MIAW calls of recently ended handovers (a conversation to close)."""
        finished = 0
        for record in await self.store.list_handovers(state=HandoverState.ENDED.value, limit=1000):
            connector = await self.store.get_connector(record.connector)
            if not record.pending_effects or record.access_token is None or connector is None:
                continue
            await self._finish_effects(
                LiveHandover(record, self.connectors.client_for(connector), self._stored_token(record))
            )
            finished += 1
        return finished

    async def detach(self, handover_id: str) -> None:
        """Stop serving a handover without ending it (its lease went to another process)."""
        self.supervisor.retire(handover_id)

    async def close(self) -> None:
        """Stop serving: close every stream (handovers stay live in the store for the next start)."""
        await self.supervisor.close()

    def live_counts(self) -> Mapping[str, int]:
        """Live handovers by state, for /metrics."""
        counts = {state.value: 0 for state in HandoverState if state is not HandoverState.ENDED}
        for live in self.supervisor.live.values():
            if live.record.is_live:
                counts[live.record.state.value] += 1
        return counts
