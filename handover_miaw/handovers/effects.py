"""The MIAW calls a transition's effects ask for (read the routing status, close the conversation, notify the
agent), made for the engine; what a call observed comes back as the machine's next input. Each call is
stored with its transition first, and taken off the stored record once made (`clear_calls`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import structlog

from handover_miaw.handovers import machine
from handover_miaw.handovers.credentials import erased_tokens
from handover_miaw.handovers.ids import derived_message_id
from handover_miaw.handovers.live import LiveHandover
from handover_miaw.miaw import MiawError
from handover_miaw.store.base import StaleRecordError, Store
from handover_miaw.store.records import HandoverRecord

__all__ = ["clear_calls", "make_call"]

log = structlog.get_logger(__name__)


async def make_call(record: HandoverRecord, live: LiveHandover | None, effect: machine.Effect) -> machine.Input | None:
    """Make the MIAW call of one effect; returns what it observed, as the machine's next input."""
    if isinstance(effect, machine.Deliver) or live is None:
        return None
    try:
        if isinstance(effect, machine.CheckRoutingStatus):
            status = await live.client.routing_status(live.token, record.conversation_id)
            return machine.RoutingStatusObserved(status.status or "UNKNOWN", effect.cause_entry_id)
        if isinstance(effect, machine.CloseConversation):
            await live.client.close_conversation(live.token, record.conversation_id)
        if isinstance(effect, machine.NotifyAgent):
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
            return machine.RoutingStatusObserved("UNKNOWN", effect.cause_entry_id)
    return None


async def clear_calls(
    store: Store,
    record: HandoverRecord,
    made: list[dict[str, Any]],
    clock: Callable[[], float],
    *,
    attempts: int,
) -> HandoverRecord:
    """Take the MIAW calls made here off the stored record, and an ended handover's tokens with the last;
    the record as stored after.

    Guarded like every engine write, read again up to `attempts` times: a call another process stored
    meanwhile stays stored for whoever makes it (an unguarded write erased them all, and one whose process
    stopped before making it was never made).
    """
    for _ in range(attempts):
        left = [call for call in record.pending_effects or [] if call not in made]
        changes: dict[str, Any] = {"pending_effects": left or None}
        if not left and not record.is_live:
            changes.update(erased_tokens(record))
        if left == (record.pending_effects or []) and len(changes) == 1:
            return record  # read again with none of them left: a write would only make other writers retry
        changes["updated_at"] = clock()
        try:
            await store.record_event(record.id, None, changes, [], expected_updated_at=record.updated_at)
        except StaleRecordError:
            fresh = await store.get_handover(record.id)
            if fresh is None:
                return record  # deleted meanwhile (retention): nothing is left to clear
            record = fresh
            continue
        return dataclasses.replace(record, **changes)
    raise StaleRecordError(record.id)
