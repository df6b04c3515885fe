"""The MIAW calls a transition's effects ask for (read the routing status, close the conversation, notify the
agent), made for the engine; what a call observed comes back as the machine's next input."""

from __future__ import annotations

import structlog

from handover_miaw.handovers import machine
from handover_miaw.handovers.ids import derived_message_id
from handover_miaw.handovers.live import LiveHandover
from handover_miaw.miaw import MiawError
from handover_miaw.store.records import HandoverRecord

__all__ = ["make_call"]

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
