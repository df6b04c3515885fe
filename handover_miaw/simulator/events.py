"""Entry payloads, SSE ``data`` envelopes, listed entries and SSE frames, shaped as in miaw-api.md §4.

Pure functions: they build dicts and bytes and never touch the network.
"""

from __future__ import annotations

from typing import Any

import orjson

from .config import SimulatorConfig
from .state import Entry

__all__ = [
    "EVENT_TYPES",
    "PING_FRAME",
    "acknowledgement",
    "attachment_message",
    "choices_message",
    "choices_response_message",
    "close_conversation",
    "envelope",
    "frame",
    "listed_entry",
    "participant_changed",
    "queue_position",
    "routing_result",
    "routing_work_result",
    "session_status_changed",
    "text_message",
    "typing_indicator",
]

EVENT_TYPES: dict[str, str] = {
    "Message": "CONVERSATION_MESSAGE",
    "ParticipantChanged": "CONVERSATION_PARTICIPANT_CHANGED",
    "RoutingResult": "CONVERSATION_ROUTING_RESULT",
    "RoutingWorkResult": "CONVERSATION_ROUTING_WORK_RESULT",
    "SessionStatusChanged": "CONVERSATION_SESSION_STATUS_CHANGED",
    "TypingStartedIndicator": "CONVERSATION_TYPING_STARTED_INDICATOR",
    "TypingStoppedIndicator": "CONVERSATION_TYPING_STOPPED_INDICATOR",
    "QueuePosition": "CONVERSATION_QUEUE_POSITION",
    "CloseConversation": "CONVERSATION_CLOSE_CONVERSATION",
    "DeliveryAcknowledgement": "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT",
    "ReadAcknowledgement": "CONVERSATION_READ_ACKNOWLEDGEMENT",
}
"""SSE ``event:`` name for each ``entryType``."""

PING_FRAME = b"event: ping\ndata: 0\n\n"


def _message(entry_id: str, abstract: dict[str, Any]) -> dict[str, Any]:
    return {"entryType": "Message", "id": entry_id, "abstractMessage": abstract, "messageReason": None}


def text_message(entry_id: str, text: str, in_reply_to: str | None = None) -> dict[str, Any]:
    """Payload of a ``StaticContentMessage``/``Text`` message."""
    return _message(
        entry_id,
        {
            "messageType": "StaticContentMessage",
            "id": entry_id,
            "inReplyToMessageId": in_reply_to,
            "references": [],
            "staticContent": {"formatType": "Text", "text": text},
        },
    )


def choices_message(entry_id: str, text: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    """Payload of a ``ChoicesMessage``/``Buttons`` message; ``options`` are (identifier, title) pairs."""
    return _message(
        entry_id,
        {
            "messageType": "ChoicesMessage",
            "id": entry_id,
            "inReplyToMessageId": None,
            "references": [],
            "choices": {
                "formatType": "Buttons",
                "text": text,
                "optionItems": [
                    {"optionIdentifier": ident, "titleItem": {"title": title, "itemType": "TitleItem"}}
                    for ident, title in options
                ],
            },
        },
    )


def choices_response_message(entry_id: str, in_reply_to: str | None, selected: list[str]) -> dict[str, Any]:
    """Payload of the end user's ``ChoicesResponseMessage``/``Selections`` answer."""
    return _message(
        entry_id,
        {
            "messageType": "ChoicesResponseMessage",
            "id": entry_id,
            "inReplyToMessageId": in_reply_to,
            "references": [],
            "choicesResponse": {
                "formatType": "Selections",
                "selectedOptions": [{"optionIdentifier": ident} for ident in selected],
            },
        },
    )


def attachment_message(
    entry_id: str, file_id: str, name: str, mime_type: str, url: str, text: str | None = None
) -> dict[str, Any]:
    """Payload of a ``StaticContentMessage``/``Attachments`` message carrying one file."""
    return _message(
        entry_id,
        {
            "messageType": "StaticContentMessage",
            "id": entry_id,
            "inReplyToMessageId": None,
            "references": [],
            "staticContent": {
                "formatType": "Attachments",
                "text": text,
                "attachments": [
                    {
                        "name": name,
                        "id": file_id,
                        "mimeType": mime_type,
                        "url": url,
                        "referenceId": file_id,
                        "attachmentUploadResult": None,
                    }
                ],
            },
        },
    )


def participant_changed(
    entry_id: str, operation: str, display_name: str, role: str, app_type: str, subject: str
) -> dict[str, Any]:
    """Payload of ``ParticipantChanged`` (one participant added or removed)."""
    return {
        "entryType": "ParticipantChanged",
        "id": entry_id,
        "entries": [
            {
                "operation": operation,
                "displayName": display_name,
                "menuMetadata": None,
                "participant": {
                    "role": role,
                    "appType": app_type,
                    "subject": subject,
                    "clientIdentifier": None,
                },
            }
        ],
    }


def routing_result(
    entry_id: str,
    record_id: str,
    routing_type: str,
    failure_type: str = "None",
    failure_reason: str | None = None,
    estimated_wait_s: int | None = None,
) -> dict[str, Any]:
    """Payload of ``RoutingResult`` (``failureType`` "None" means the request was accepted)."""
    return {
        "entryType": "RoutingResult",
        "id": entry_id,
        "recordId": record_id,
        "routingType": routing_type,
        "failureType": failure_type,
        "failureReason": failure_reason,
        "errorMessages": [] if failure_reason is None else [failure_reason],
        "estimatedWaitTime": {
            "estimatedWaitTimeInSeconds": estimated_wait_s if estimated_wait_s is not None else -1,
            "isEWTRequested": estimated_wait_s is not None,
        },
        "pendingServiceRoutingId": None,
        "workOwnerId": None,
        "isExternallyRouted": False,
        "cancelReason": None,
        "skipRouterCPRemovalIfNoRoutingFailures": False,
        "routingConfigurationDetails": {"routingConfigurationType": "Queue", "queueId": "00G000000000001"},
    }


def routing_work_result(entry_id: str, work_type: str, parent_entry_id: str | None) -> dict[str, Any]:
    """Payload of ``RoutingWorkResult`` (``workType`` Accepted, Transferred, ...)."""
    return {
        "entryType": "RoutingWorkResult",
        "id": entry_id,
        "workType": work_type,
        "parentEntryId": parent_entry_id,
    }


def session_status_changed(
    entry_id: str, status: str, previous: str | None, ended_by_role: str | None = None
) -> dict[str, Any]:
    """Payload of ``SessionStatusChanged``."""
    return {
        "entryType": "SessionStatusChanged",
        "id": entry_id,
        "sessionStatus": status,
        "sessionStatusPrev": previous,
        "sessionEndedByRole": ended_by_role,
    }


def typing_indicator(entry_id: str, started: bool, timestamp: int) -> dict[str, Any]:
    """Payload of ``TypingStartedIndicator`` / ``TypingStoppedIndicator``."""
    entry_type = "TypingStartedIndicator" if started else "TypingStoppedIndicator"
    return {"entryType": entry_type, "id": entry_id, "timestamp": timestamp}


def queue_position(entry_id: str, position: int) -> dict[str, Any]:
    """Payload of ``CONVERSATION_QUEUE_POSITION`` (shape not documented; miaw-api.md §11)."""
    return {"entryType": "QueuePosition", "id": entry_id, "queuePosition": position}


def close_conversation(entry_id: str) -> dict[str, Any]:
    """Payload of ``CONVERSATION_CLOSE_CONVERSATION`` (shape not documented; miaw-api.md §11)."""
    return {"entryType": "CloseConversation", "id": entry_id}


def acknowledgement(entry_id: str, read: bool, timestamp: int) -> dict[str, Any]:
    """Payload of ``DeliveryAcknowledgement`` / ``ReadAcknowledgement``; the acknowledged message's id
    travels in the entry's ``relatedRecords[0]`` (miaw-api.md §4.4, §4.5)."""
    entry_type = "ReadAcknowledgement" if read else "DeliveryAcknowledgement"
    return {"entryType": entry_type, "id": entry_id, "acknowledgementTimestamp": timestamp}


def _entry_fields(entry: Entry) -> dict[str, Any]:
    return {
        "identifier": entry.identifier,
        "entryType": entry.entry_type,
        "sender": entry.sender.as_json(),
        "senderDisplayName": entry.sender.display_name,
        "clientTimestamp": entry.client_timestamp,
        "transcriptedTimestamp": entry.transcripted_timestamp,
        "relatedRecords": list(entry.related_records),
    }


def envelope(entry: Entry, conversation_id: str, config: SimulatorConfig) -> dict[str, Any]:
    """The SSE ``data`` object; ``entryPayload`` is a JSON *string* as on MIAW's event router."""
    conversation_entry = _entry_fields(entry)
    conversation_entry["entryPayload"] = orjson.dumps(entry.payload).decode()
    return {
        "channelPlatformKey": config.channel_platform_key,
        "channelType": "embedded_messaging",
        "channelAddressIdentifier": config.channel_address_identifier,
        "conversationId": conversation_id,
        "conversationEntry": conversation_entry,
    }


def listed_entry(entry: Entry) -> dict[str, Any]:
    """An entry as list-entries returns it: ``entryPayload`` is an *object* there."""
    listed = _entry_fields(entry)
    listed["entryPayload"] = entry.payload
    listed["serverReceivedTimestamp"] = entry.server_received_timestamp
    listed["recipients"] = []
    return listed


def frame(event_type: str, event_id: int, data: dict[str, Any]) -> bytes:
    """One SSE frame; ``data`` is a single line because orjson never emits newlines."""
    return b"event: %s\nid: %d\ndata: %s\n\n" % (event_type.encode(), event_id, orjson.dumps(data))
