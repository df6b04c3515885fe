"""How records look through the API. Secrets (access tokens, identity tokens, webhook secrets, Cognigy API
keys and URL tokens) never leave through here."""

from __future__ import annotations

from typing import Any

from handover_miaw.store.records import ConnectorRecord, Delivery, HandoverRecord
from handover_miaw.timestamps import iso_utc, iso_utc_or_none

__all__ = ["connector_view", "delivery_view", "handover_view"]

_WRITE_ONLY_DELIVERY = ("secret", "apiKey", "urlToken")


def handover_view(record: HandoverRecord) -> dict[str, Any]:
    """A handover as the API returns it."""
    return {
        "id": record.id,
        "connector": record.connector,
        "sessionId": record.session_id,
        "userId": record.user_id,
        "state": record.state.value,
        "conversationId": record.conversation_id,
        "agent": {"name": record.agent_name} if record.agent_name else None,
        "queuePosition": record.queue_position,
        "estimatedWaitSeconds": record.estimated_wait_s,
        "endStatus": record.end_status,
        "endReason": record.end_reason,
        "createdAt": iso_utc(record.created_at),
        "updatedAt": iso_utc(record.updated_at),
        "endedAt": iso_utc_or_none(record.ended_at),
    }


def connector_view(record: ConnectorRecord) -> dict[str, Any]:
    """A connector as the API returns it: write-only delivery fields are reported as set, never shown."""
    delivery = {k: v for k, v in record.delivery.items() if k not in _WRITE_ONLY_DELIVERY}
    delivery.update({f"{k}Set": True for k in _WRITE_ONLY_DELIVERY if record.delivery.get(k)})
    return {"name": record.name, "config": record.config, "delivery": delivery, "updatedAt": iso_utc(record.updated_at)}


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    """A delivery as the dead-letter list shows it (the envelope itself is not repeated)."""
    return {
        "id": delivery.id,
        "seq": delivery.seq,
        "handoverId": delivery.handover_id,
        "connector": delivery.connector,
        "type": delivery.type,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "lastError": delivery.last_error,
        "createdAt": iso_utc(delivery.created_at),
        "deliveredAt": iso_utc_or_none(delivery.delivered_at),
    }
