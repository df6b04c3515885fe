"""Starting a handover: token → event stream → create conversation → transcript, so no early event is
missed; a start that MIAW refuses or does not answer ends the handover with its reason."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import structlog

from handover_miaw.errors import UpstreamUnavailableError
from handover_miaw.handovers import machine
from handover_miaw.handovers.calls import for_handover
from handover_miaw.handovers.connectors import Connectors
from handover_miaw.handovers.credentials import token_to_keep
from handover_miaw.handovers.engine import HandoverEngine, upstream_error
from handover_miaw.handovers.ids import derived_message_id, new_handover_id, new_miaw_id
from handover_miaw.handovers.live import LiveHandover
from handover_miaw.handovers.mapping import (
    conversation_language,
    copilot_url,
    routing_attributes,
    transcript_messages,
)
from handover_miaw.handovers.node_settings import NodeSettings
from handover_miaw.handovers.ownership import StreamLeases
from handover_miaw.logs import secrets
from handover_miaw.manifest import Manifest
from handover_miaw.miaw import MiawError, MiawTransportError
from handover_miaw.store.base import DuplicateHandoverError, Store
from handover_miaw.store.records import ConnectorRecord, HandoverRecord, HandoverState

__all__ = ["StartRequest", "Starter"]

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class StartRequest:
    """A validated handover start."""

    connector: str
    session_id: str
    user_id: str
    settings: dict[str, Any]
    transcript: list[dict[str, Any]]
    language: str | None
    context: dict[str, Any]


class Starter:
    """Starts handovers for the bot platform; the engine serves them from then on."""

    def __init__(
        self,
        store: Store,
        engine: HandoverEngine,
        connectors: Connectors,
        leases: StreamLeases,
        manifest: Manifest,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._engine = engine
        self._connectors = connectors
        self._leases = leases
        self._manifest = manifest
        self._clock = clock

    async def start(self, request: StartRequest) -> tuple[HandoverRecord, bool]:
        """Start a handover; returns (record, created). A live one for the same session is returned as is."""
        connector = await self._connectors.require(request.connector)
        existing = await self._store.find_live_handover(request.connector, request.session_id)
        if existing is not None:
            return existing, False
        settings = self._manifest.node_with_defaults(request.settings)
        node = NodeSettings.of(settings)
        config = self._manifest.connector_with_defaults(connector.config)
        handover_id = new_handover_id()
        copilot = None
        if template := config.get("copilotUrlTemplate"):
            url_token = str(connector.delivery.get("urlToken", ""))
            link = copilot_url(template, user_id=request.user_id, session_id=request.session_id, url_token=url_token)
            copilot = (str(config.get("copilotRoutingAttribute") or "copilotUrl"), link)
        now = self._clock()
        record = HandoverRecord(
            id=handover_id,
            connector=request.connector,
            session_id=request.session_id,
            user_id=request.user_id,
            state=HandoverState.PENDING,
            conversation_id=new_miaw_id(),
            settings=settings,
            transcript=request.transcript,
            language=conversation_language(node, request.language),
            context=request.context,
            routing_attributes=routing_attributes(node, copilot=copilot),
            created_at=now,
            updated_at=now,
        )
        secrets.add_supplied(node.identity_token)
        # Lease first, insert second: from the insert on, the handover is live and pending in the store, and
        # another process's ownership round that found its lease free would take it for one whose start a
        # dead process left unfinished and end it as `interrupted` (tests/scaleout/test_takeover.py lost a
        # handover's messages this way under load). The id is new, so nobody else can hold its lease.
        if not await self._leases.claim(handover_id):
            raise RuntimeError(f"the lease of the new handover {handover_id} is held by another process")
        try:
            await self._store.create_handover(record)
        except DuplicateHandoverError as duplicate:
            await self._leases.release(handover_id)
            return duplicate.existing, False
        # Served from here on: this process's own round must not take it either (see Ownership.round).
        with self._engine.starting(handover_id):
            bound = log.bind(handover_id=handover_id, connector=request.connector, session_id=request.session_id)
            bound.info("handover.pending")
            try:
                with for_handover(handover_id):
                    await self._open(record, connector)
            except MiawError as exc:
                bound.warning("handover.start_failed", error=exc.code)
                await self._engine.end_now(
                    handover_id, "error", "miaw_unavailable" if isinstance(exc, MiawTransportError) else "miaw_refused"
                )
                raise upstream_error(exc) from exc
        stored = await self._store.get_handover(handover_id)
        assert stored is not None
        return stored, True

    async def _open(self, record: HandoverRecord, connector: ConnectorRecord) -> None:
        client = self._connectors.client_for(connector)
        node = NodeSettings.of(record.settings)
        if node.use_identity_token:
            token = await client.authenticated_access_token(node.identity_token or "")
        else:
            token = await client.unauthenticated_access_token()
        token = token_to_keep(token)
        secrets.add(token.token)
        record = await self._store.update_handover(
            record.id,
            {"access_token": token.token, "token_expires_at": token.expires_at, "last_event_id": token.last_event_id},
        )
        live = LiveHandover(record, client, token)
        self._engine.serve(live, resume=False)
        assert live.stream is not None
        if not await live.stream.wait_connected():
            raise UpstreamUnavailableError("the Salesforce event stream could not be opened")
        await client.create_conversation(
            token, record.conversation_id, routing_attributes=record.routing_attributes, language=record.language
        )
        # Storing "queued" (and its status delivery) needs no answer from MIAW, and the transcript needs
        # nothing stored: they overlap, which takes the store's part out of the start latency.
        queued = asyncio.get_running_loop().create_task(
            self._engine.apply(record.id, machine.ConversationCreated(), entry_id=None), name=f"queued:{record.id}"
        )
        try:
            if node.send_transcript:
                for index, text in enumerate(transcript_messages(record.transcript)):
                    message_id = derived_message_id(record.id, "transcript", str(index))
                    await client.send_message(
                        token,
                        record.conversation_id,
                        text,
                        message_id=message_id,
                        routing_attributes=record.routing_attributes,
                        language=record.language,
                    )
        finally:
            await queued
