"""Starting a handover: token → event stream → create conversation → transcript, so no early event is
missed; a start that MIAW refuses or does not answer ends the handover with its reason."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import structlog

from handover_miaw.errors import UpstreamUnavailableError
from handover_miaw.handovers import machine
from handover_miaw.handovers.calls import for_handover
from handover_miaw.handovers.credentials import lean_token
from handover_miaw.handovers.ids import derived_message_id, new_handover_id, new_miaw_id
from handover_miaw.handovers.live import LiveHandover
from handover_miaw.handovers.mapping import (
    conversation_language,
    copilot_url,
    routing_attributes,
    transcript_messages,
)
from handover_miaw.handovers.service import HandoverService, upstream_error
from handover_miaw.logs import secrets
from handover_miaw.miaw import MiawError, MiawTransportError
from handover_miaw.store.base import DuplicateHandoverError
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
    """Starts handovers for the bot platform; the service serves them from then on."""

    def __init__(self, service: HandoverService) -> None:
        self.service = service

    async def start(self, request: StartRequest) -> tuple[HandoverRecord, bool]:
        """Start a handover; returns (record, created). A live one for the same session is returned as is."""
        connector = await self.service.connectors.require(request.connector)
        existing = await self.service.store.find_live_handover(request.connector, request.session_id)
        if existing is not None:
            return existing, False
        settings = self.service.manifest.node_with_defaults(request.settings)
        config = self.service.manifest.connector_with_defaults(connector.config)
        handover_id = new_handover_id()
        copilot = None
        if template := config.get("copilotUrlTemplate"):
            url_token = str(connector.delivery.get("urlToken", ""))
            link = copilot_url(template, user_id=request.user_id, session_id=request.session_id, url_token=url_token)
            copilot = (str(config.get("copilotRoutingAttribute") or "copilotUrl"), link)
        now = self.service.clock()
        record = HandoverRecord(
            id=handover_id,
            connector=request.connector,
            session_id=request.session_id,
            user_id=request.user_id,
            state=HandoverState.PENDING,
            conversation_id=new_miaw_id(),
            settings=settings,
            transcript=request.transcript,
            language=conversation_language(settings, request.language),
            context=request.context,
            routing_attributes=routing_attributes(settings, copilot=copilot),
            created_at=now,
            updated_at=now,
        )
        secrets.add(settings.get("identityToken"))
        # Lease first, insert second: from the insert on, the handover is live and pending in the store, and
        # another process's ownership round that found its lease free would take it for one whose start a
        # dead process left unfinished and end it as `interrupted` (tests/scaleout/test_takeover.py lost a
        # handover's messages this way under load). The id is new, so nobody else can hold its lease.
        if not await self.service.claim(handover_id):
            raise RuntimeError(f"the lease of the new handover {handover_id} is held by another process")
        try:
            await self.service.store.create_handover(record)
        except DuplicateHandoverError as duplicate:
            await self.service.release(handover_id)
            return duplicate.existing, False
        # Served from here on: this process's own round must not take it either (see Ownership.round).
        self.service.starting.add(handover_id)
        try:
            bound = log.bind(handover_id=handover_id, connector=request.connector, session_id=request.session_id)
            bound.info("handover.pending")
            try:
                with for_handover(handover_id):
                    await self._open(record, connector)
            except MiawError as exc:
                bound.warning("handover.start_failed", error=exc.code)
                await self.service.end_now(
                    handover_id, "error", "miaw_unavailable" if isinstance(exc, MiawTransportError) else "miaw_refused"
                )
                raise upstream_error(exc) from exc
        finally:
            self.service.starting.discard(handover_id)
        stored = await self.service.store.get_handover(handover_id)
        assert stored is not None
        return stored, True

    async def _open(self, record: HandoverRecord, connector: ConnectorRecord) -> None:
        client = self.service.connectors.client_for(connector)
        if record.settings.get("useIdentityToken"):
            token = await client.authenticated_access_token(str(record.settings["identityToken"]))
        else:
            token = await client.unauthenticated_access_token()
        token = lean_token(token)
        secrets.add(token.token)
        record = await self.service.store.update_handover(
            record.id,
            {"access_token": token.token, "token_expires_at": token.expires_at, "last_event_id": token.last_event_id},
        )
        live = LiveHandover(record, client, token)
        self.service.supervisor.add(live)
        self.service.attach_stream(live, resume=False)
        assert live.stream is not None
        if not await live.stream.wait_connected():
            raise UpstreamUnavailableError("the Salesforce event stream could not be opened")
        await client.create_conversation(
            token, record.conversation_id, routing_attributes=record.routing_attributes, language=record.language
        )
        # Storing "queued" (and its status delivery) needs no answer from MIAW, and the transcript needs
        # nothing stored: they overlap, which takes the store's part out of the start latency.
        queued = asyncio.get_running_loop().create_task(
            self.service.apply(record.id, machine.ConversationCreated(), entry_id=None), name=f"queued:{record.id}"
        )
        try:
            if record.settings.get("sendTranscript"):
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
