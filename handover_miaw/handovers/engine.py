"""The handover engine: runs every input through the state machine, stores the outcome, executes its effects,
and serves the streams of the handovers this process owns.

A private collaborator of the application service (`application.Handovers`), like the start (`start.py`),
the user's actions (`user_actions.py`) and the watchdog; none of them calls back into its caller. Every
input goes through `machine.step`; the changed fields, the processed entry id and the deliveries it causes
are written in one store call before any effect runs, so a duplicate or replayed event is recognised and
nothing is delivered twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import structlog

from handover_miaw.delivery.outbox import Outbox
from handover_miaw.errors import NotFoundError, StateConflictError
from handover_miaw.handovers import machine
from handover_miaw.handovers.calls import CallLog, for_handover
from handover_miaw.handovers.connectors import Connectors
from handover_miaw.handovers.credentials import erased_tokens, token_to_keep
from handover_miaw.handovers.effects import clear_calls, make_call
from handover_miaw.handovers.live import LiveHandover, Supervisor, stored_token
from handover_miaw.handovers.node_settings import NodeSettings
from handover_miaw.handovers.ownership import StreamLeases
from handover_miaw.handovers.renewals import store_renewed_token
from handover_miaw.handovers.upstream import upstream_error
from handover_miaw.logs import secrets
from handover_miaw.metrics import Metrics
from handover_miaw.miaw import AccessToken
from handover_miaw.miaw.events import MiawEvent
from handover_miaw.miaw.stream import EventStream, StreamState, StreamStatus
from handover_miaw.store.base import StaleRecordError, Store
from handover_miaw.store.records import HandoverRecord, HandoverState

__all__ = ["HandoverEngine", "upstream_error"]

log = structlog.get_logger(__name__)

# How many times one input is decided again on a record another writer changed meanwhile, before giving up
# (each retry means a write landed elsewhere, so the loop ends as soon as the others pause).
_STALE_READS = 5


class HandoverEngine:
    """Applies inputs to handovers and serves the live ones' event streams."""

    def __init__(
        self,
        store: Store,
        leases: StreamLeases,
        outbox: Outbox,
        connectors: Connectors,
        calls: CallLog,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        *,
        heartbeat_timeout_s: float = 90.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._leases = leases
        self._outbox = outbox
        self._connectors = connectors
        self._calls = calls
        self._session = session
        self._metrics = metrics
        self._supervisor = Supervisor()
        # Handovers being started here: served before their stream is (see `starting`).
        self._starting: set[str] = set()
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._clock = clock

    @contextmanager
    def starting(self, handover_id: str) -> Iterator[None]:
        """Count a handover being started here as served, so this process's ownership round does not take
        it for one a dead process left half-started."""
        self._starting.add(handover_id)
        try:
            yield
        finally:
            self._starting.discard(handover_id)

    async def refresh(self, live: LiveHandover) -> None:
        """Take up what was stored for a served handover elsewhere (a token renewed through another process,
        an end) before deciding on time-driven inputs from it."""
        async with live.lock:
            if (record := await self._store.get_handover(live.record.id)) is not None:
                live.adopt(record)

    def served(self) -> list[LiveHandover]:
        """The live handovers whose stream this process serves."""
        return list(self._supervisor.live.values())

    def serve(self, live: LiveHandover, *, resume: bool) -> None:
        """Serve a handover: open and wire its event stream (from the stored cursor when resuming)."""
        self._supervisor.add(live)
        handover_id = live.record.id

        async def on_event(event: MiawEvent) -> None:
            if not machine.skippable(event):
                await self.apply(handover_id, event, entry_id=event.entry_id, cursor=event.event_id)

        async def on_state(status: StreamStatus) -> None:
            if status.state is StreamState.RECONNECTING:
                self._metrics.stream_reconnects.inc()
            elif status.state is StreamState.TOKEN_EXPIRED:
                await self.apply(handover_id, machine.EndRequested("error", "token_expired"), entry_id=None)
            elif status.state is StreamState.FAILED:
                await self.apply(handover_id, machine.EndRequested("error", "stream_failed"), entry_id=None)

        async def on_token(token: AccessToken) -> None:
            secrets.add(token.token)
            kept = token_to_keep(token)
            async with live.lock:
                with contextlib.suppress(StateConflictError):  # ended meanwhile: the next read retires it
                    live.record = await store_renewed_token(self._store, handover_id, kept)
                live.token = kept

        live.stream = EventStream(
            live.client,
            live.token,
            on_event=on_event,
            on_state=on_state,
            on_token=on_token,
            skip=machine.skippable_raw_event,
            conversation_ids=[live.record.conversation_id],
            last_event_id=live.record.last_event_id if resume else None,
            session=self._session,
            heartbeat_timeout=self._heartbeat_timeout_s,
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
        view: LiveHandover | None = None,
    ) -> HandoverRecord | None:
        """Run one input through the state machine, persist it atomically, then execute its effects.

        `view` is a transient one (from `live`) when this process does not serve the handover's stream, so
        effects such as closing the conversation still run.
        """
        served = self._supervisor.get(handover_id)
        live = served or view
        # Its MIAW calls are this handover's; inputs of one live handover run one at a time.
        with for_handover(handover_id):
            async with live.lock if live is not None else contextlib.nullcontext():
                # A MIAW entry of a stream served here steps from the record kept in memory, anything else
                # from the stored one.
                kept = served is not None and entry_id is not None and served.record.is_live
                record = served.record if kept and served is not None else None
                return await self._apply_locked(handover_id, record, live, event, entry_id, cursor)

    async def _read(self, handover_id: str, live: LiveHandover | None) -> HandoverRecord | None:
        """The stored record, kept as the live view's; a served handover found ended stops being served."""
        record = await self._store.get_handover(handover_id)
        if record is None:
            return None
        if live is not None:
            live.adopt(record)
        if not record.is_live:
            await self._stop_serving(handover_id)
        return record

    async def _stop_serving(self, handover_id: str) -> None:
        if self._supervisor.get(handover_id) is not None:
            # Release before retiring: this often runs inside the stream's own callback, and the retire
            # cancels that task; a cancel landing in the lease release's Redis call was lost, and the stream
            # went back to reading, never to close (tests/runtime/test_ownership.py, the close test).
            await self._leases.release(handover_id)
            self._supervisor.retire(handover_id)

    async def _apply_locked(
        self,
        handover_id: str,
        record: HandoverRecord | None,
        live: LiveHandover | None,
        event: machine.Input,
        entry_id: str | None,
        cursor: str | None,
    ) -> HandoverRecord | None:
        """Apply the input from `record` (None: the stored one), then the input its effects observed (the
        routing status read after an agent left), until none is left; then clear the stored MIAW calls
        made here by then. None when the handover does not exist; an ended one is returned as it is."""
        decided, updated, follow_up, made = await self._step(handover_id, record, live, event, entry_id, cursor)
        # The identity token is read from the record decided with: the ending write erases it from the settings.
        tokens = {decided.access_token, _identity(decided)} if decided is not None else set()
        while follow_up is not None and updated is not None:
            decided, updated, follow_up, more = await self._step(handover_id, updated, live, follow_up, None, None)
            made = [*made, *more]
            if decided is not None:
                tokens.update((decided.access_token, _identity(decided)))
        if updated is None or not tokens:
            return updated  # missing, or found ended: nothing was applied here
        if made and live is not None:  # without a live view the calls stay stored for the serving process
            updated = live.record = await clear_calls(self._store, updated, made, self._clock, attempts=_STALE_READS)
        if updated.state is HandoverState.ENDED:
            self._calls.ended(handover_id)
            await self._stop_serving(handover_id)
            # Every token an input was decided with: the one stored last may be a renewal read back meanwhile.
            secrets.discard(*tokens)
        return updated

    async def _step(
        self,
        handover_id: str,
        record: HandoverRecord | None,
        live: LiveHandover | None,
        event: machine.Input,
        entry_id: str | None,
        cursor: str | None,
    ) -> tuple[HandoverRecord | None, HandoverRecord | None, machine.Input | None, list[dict[str, Any]]]:
        """One input, decided on `record` (None: read it first). Every write is guarded by the updated_at of
        the copy it was decided on and raises StaleRecordError, before any effect, when another writer came
        in between (another process ended the handover, renewed its token): the input is then decided again
        on the record read back, which an ended handover ignores.

        Returns the record the input was decided on, then _transition's answer; (None, the record as read,
        None, []) when it is missing or ended, with nothing applied."""
        for _ in range(_STALE_READS):
            if record is None:
                record = await self._read(handover_id, live)
                if record is None or not record.is_live:
                    return None, record, None, []
            try:
                return record, *await self._transition(record, live, event, entry_id, cursor)
            except StaleRecordError:
                record = None
        raise StaleRecordError(handover_id)

    async def _transition(
        self,
        record: HandoverRecord,
        live: LiveHandover | None,
        event: machine.Input,
        entry_id: str | None,
        cursor: str | None,
    ) -> tuple[HandoverRecord, machine.Input | None, list[dict[str, Any]]]:
        """One step: decide, store (changed fields, cursor, deliveries, the MIAW calls to make) in one write,
        make the calls. Returns the record after, the input a call observed, and the calls stored."""
        policy = machine.Policy(
            forward_events=await self._connectors.forwards_events(record.connector),
            end_on_participant_change=NodeSettings.ends_on_participant_change(record.settings),
        )
        snapshot = machine.Snapshot(
            record.state,
            record.agent_name,
            record.queue_position,
            record.estimated_wait_s,
            record.end_status,
            record.end_reason,
        )
        transition = machine.step(snapshot, event, policy)
        now = self._clock()
        changes: dict[str, Any] = transition.changed_fields
        if cursor is not None:
            changes["last_event_id"] = cursor
        if transition.new_state is HandoverState.ENDED:
            changes["ended_at"] = now
        elif transition.new_state is HandoverState.QUEUED and record.state is not HandoverState.QUEUED:
            changes["queued_at"] = now  # the queue limit counts from here (creation, or a transfer)
        elif transition.new_state is HandoverState.ACTIVE:
            changes["queued_at"] = None
        deliveries = [
            self._outbox.entry(record, effect.type, effect.data, effect.key, now)
            for effect in transition.effects
            if isinstance(effect, machine.Deliver)
        ]
        calls = [stored for effect in transition.effects if (stored := machine.stored_effect(effect)) is not None]
        if calls:
            changes["pending_effects"] = [*(record.pending_effects or []), *calls]
        elif transition.new_state is HandoverState.ENDED:
            changes.update(erased_tokens(record))
        if not changes and not deliveries and entry_id is None:
            return record, None, []
        changes["updated_at"] = now  # stamped here, so the record kept in memory is the stored one
        guard = record.updated_at
        if not await self._store.record_event(record.id, entry_id, changes, deliveries, expected_updated_at=guard):
            return record, None, []  # a duplicate MIAW entry: already processed
        updated = dataclasses.replace(record, **changes)
        if live is not None:
            live.record = updated
        if deliveries:
            self._outbox.stored(record.id)
        if transition.new_state is not None:
            self._metrics.handover_transitions.labels(transition.new_state.value).inc()
            log.info(
                f"handover.{transition.new_state.value}",
                handover_id=record.id,
                connector=record.connector,
                session_id=record.session_id,
                reason=changes.get("end_reason"),
            )
        follow_up: machine.Input | None = None
        for effect in transition.effects:
            follow_up = await make_call(updated, live, effect) or follow_up
        return updated, follow_up, calls

    async def end_now(self, handover_id: str, status: str, reason: str, view: LiveHandover | None = None) -> None:
        """End a handover now for a reason the runtime found (MIAW refused, the token expired, ...)."""
        await self.apply(handover_id, machine.EndRequested(status, reason), entry_id=None, view=view)
        await self._stop_serving(handover_id)

    async def live(self, handover_id: str) -> LiveHandover:
        """The live handover to act on for the user: the one this process serves, else a transient view built
        from the store (its stream is served by another process; REST calls need only the client and token)."""
        live = self._supervisor.get(handover_id)
        if live is not None and live.record.is_live:
            return live
        record = await self._store.get_handover(handover_id)
        if record is None:
            raise NotFoundError(f"handover {handover_id!r} does not exist")
        connector = await self._store.get_connector(record.connector)
        if not record.is_live or record.access_token is None or connector is None:
            raise StateConflictError(f"handover {handover_id!r} has ended ({record.end_reason or record.state})")
        return LiveHandover(record, self._connectors.client_for(connector), stored_token(record))

    # --- lifecycle --------------------------------------------------------------------------------------

    def served_ids(self) -> list[str]:
        """Handovers whose stream this process serves, or is opening."""
        return [*self._supervisor.live, *self._starting.difference(self._supervisor.live)]

    async def attach(self, record: HandoverRecord) -> None:
        """Serve a live handover whose lease this process just took: re-open its stream from the stored
        cursor (a restart, or a takeover from a process that died); end one caught mid-start."""
        connector = await self._store.get_connector(record.connector)
        if record.state is HandoverState.PENDING or record.access_token is None or connector is None:
            await self.apply(record.id, machine.EndRequested("error", "interrupted"), entry_id=None)
            return
        live = LiveHandover(record, self._connectors.client_for(connector), stored_token(record))
        self.serve(live, resume=True)
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
            follow_up = await make_call(live.record, live, effect) if effect is not None else None
            if follow_up is not None:
                await self._apply_locked(live.record.id, live.record, live, follow_up, None, None)
        try:
            live.record = await clear_calls(self._store, live.record, pending, self._clock, attempts=_STALE_READS)
        except StaleRecordError:
            # Other writers kept changing it: the calls stay stored and are made again by the next attach
            # (each is safe to repeat), rather than this failing a start or an ownership round.
            log.warning("handover.effects_not_cleared", handover_id=live.record.id)

    async def finish_ended(self) -> int:
        """At start: finish the stored MIAW calls of recently ended handovers (a conversation to close)."""
        finished = 0
        for record in await self._store.list_handovers(state=HandoverState.ENDED.value, limit=1000):
            connector = await self._store.get_connector(record.connector)
            if not record.pending_effects or record.access_token is None or connector is None:
                continue
            await self._finish_effects(
                LiveHandover(record, self._connectors.client_for(connector), stored_token(record))
            )
            finished += 1
        return finished

    async def detach(self, handover_id: str) -> None:
        """Stop serving a handover without ending it (its lease went to another process)."""
        self._supervisor.retire(handover_id)

    async def close(self) -> None:
        """Stop serving: close every stream (handovers stay live in the store for the next start)."""
        await self._supervisor.close()

    def live_counts(self) -> Mapping[str, int]:
        """Live handovers served here, by state, for /metrics."""
        return self._supervisor.counts()


def _identity(record: HandoverRecord) -> str | None:
    return NodeSettings.of(record.settings).identity_token
