"""Decode MIAW server-sent events and conversation entries into typed events (pure).

Two inputs, one output:

- `decode_sse_event(event_type, data, event_id)`: an SSE event. `data` is the JSON envelope
  (`conversationId`, `conversationEntry{identifier, entryType, sender, ..., entryPayload}`) in which
  `entryPayload` is a JSON *string* that is parsed a second time.
- `decode_entry(entry, conversation_id)`: one item of `GET .../entries`, where `entryPayload` is
  already an *object* (a string is accepted too).

The decoder never raises: an unknown event type (Salesforce adds types at any time and the docs say to
ignore them), a malformed payload, or a bug here becomes `UnrecognisedEvent` with the raw data and a
reason, so one odd event cannot stop a stream. Field access is defensive throughout because several
payload shapes come from third-party observation, not documentation (see miaw-api.md §4.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from .events import (
    AcknowledgementEvent,
    Attachment,
    ChoiceOption,
    ConversationClosedEvent,
    MessageEvent,
    MiawEvent,
    ParticipantChange,
    ParticipantChangedEvent,
    PingEvent,
    QueuePositionEvent,
    RoutingResultEvent,
    RoutingWorkResultEvent,
    SessionStatusChangedEvent,
    TypingEvent,
    UnrecognisedEvent,
)
from .lenient_json import as_int, as_list, as_obj, as_str, first_int

__all__ = ["decode_entry", "decode_sse_event"]


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a builder reads: fields common to all events, the parsed payload, the entry, the envelope."""

    common: dict[str, Any]
    payload: dict[str, Any]
    entry: dict[str, Any]
    envelope: dict[str, Any]


_Builder = Callable[[_Parts], MiawEvent]


def _message(p: _Parts) -> MiawEvent:
    message = as_obj(p.payload.get("abstractMessage"))
    static = as_obj(message.get("staticContent"))
    choices = as_obj(message.get("choices"))
    content = static or choices
    options = tuple(
        ChoiceOption(
            option_id=as_str(item.get("optionIdentifier")),
            title=as_str(as_obj(item.get("titleItem")).get("title")) or as_str(item.get("title")),
        )
        for item in map(as_obj, as_list(choices.get("optionItems")))
    )
    attachments = tuple(
        Attachment(
            attachment_id=as_str(item.get("id")),
            name=as_str(item.get("name")),
            mime_type=as_str(item.get("mimeType")),
            url=_web_url(as_str(item.get("url"))),
        )
        for item in map(as_obj, as_list(static.get("attachments")))
    )
    return MessageEvent(
        **p.common,
        message_id=as_str(message.get("id")) or as_str(p.payload.get("id")),
        message_type=as_str(message.get("messageType")),
        format_type=as_str(content.get("formatType")),
        text=as_str(content.get("text")),
        choices=options,
        attachments=attachments,
        in_reply_to_message_id=as_str(message.get("inReplyToMessageId")),
    )


def _web_url(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL, else None. The bot platform shows an attachment as a link,
    and a `javascript:` or `data:` one passed on would run in its page: an agent's message (or a forged
    entry) must not carry a script into the bot's channel. A control character or space is refused too, as
    browsers drop them before reading the scheme."""
    if url is None or any(c <= " " or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname  # raises for a bracketed host that does not close
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and host else None


def _participants(p: _Parts) -> MiawEvent:
    changes = []
    for item in map(as_obj, as_list(p.payload.get("entries"))):
        participant = as_obj(item.get("participant"))
        operation = as_str(item.get("operation"))
        changes.append(
            ParticipantChange(
                operation=operation.lower() if operation else None,
                role=as_str(participant.get("role")),
                display_name=as_str(item.get("displayName")),
                subject=as_str(participant.get("subject")),
            )
        )
    return ParticipantChangedEvent(**p.common, changes=tuple(changes))


def _wait_seconds(value: object) -> int | None:
    if isinstance(value, dict):
        if value.get("isEWTRequested") is False:
            return None
        value = value.get("estimatedWaitTimeInSeconds")
    seconds = as_int(value)
    # A negative figure (-1 is seen) means "not computed", not a wait.
    return seconds if seconds is not None and seconds >= 0 else None


def _routing(p: _Parts) -> MiawEvent:
    return RoutingResultEvent(
        **p.common,
        routing_type=as_str(p.payload.get("routingType")),
        failure_type=as_str(p.payload.get("failureType")),
        failure_reason=as_str(p.payload.get("failureReason")),
        error_messages=tuple(m for m in map(as_str, as_list(p.payload.get("errorMessages"))) if m),
        estimated_wait_s=_wait_seconds(p.payload.get("estimatedWaitTime")),
        # Not seen in real RoutingResult payloads; read when present.
        queue_position=first_int(p.payload, "queuePosition", "position"),
        record_id=as_str(p.payload.get("recordId")),
    )


def _work(p: _Parts) -> MiawEvent:
    return RoutingWorkResultEvent(
        **p.common,
        work_type=as_str(p.payload.get("workType")),
        parent_entry_id=as_str(p.payload.get("parentEntryId")),
    )


def _queue(p: _Parts) -> MiawEvent:
    # Undocumented shape: accept {queuePosition: n}, {position: n}, {queuePosition: {position: n}},
    # in the payload first, then in the entry and the envelope.
    sources = (p.payload, p.entry, p.envelope)
    position = next((n for s in sources if (n := first_int(s, "queuePosition", "position")) is not None), None)
    wait = next((w for s in sources if (w := _wait_seconds(s.get("estimatedWaitTime"))) is not None), None)
    return QueuePositionEvent(**p.common, position=position, estimated_wait_s=wait)


def _typing(started: bool) -> _Builder:
    def build(p: _Parts) -> MiawEvent:
        return TypingEvent(**p.common, started=started)

    return build


def _ack(kind: Literal["delivery", "read"]) -> _Builder:
    def build(p: _Parts) -> MiawEvent:
        records = as_list(p.entry.get("relatedRecords"))
        first = records[0] if records else None
        # Seen as a list of ids; tolerate a list of {id: ...} records too.
        acked = as_str(first.get("id")) if isinstance(first, dict) else as_str(first)
        return AcknowledgementEvent(
            **p.common,
            kind=kind,
            acknowledged_entry_id=acked,
            acknowledged_at=as_int(p.payload.get("acknowledgementTimestamp")),
        )

    return build


def _closed(p: _Parts) -> MiawEvent:
    return ConversationClosedEvent(**p.common)


def _session(p: _Parts) -> MiawEvent:
    return SessionStatusChangedEvent(
        **p.common,
        status=as_str(p.payload.get("sessionStatus")),
        previous_status=as_str(p.payload.get("sessionStatusPrev")),
        ended_by_role=as_str(p.payload.get("sessionEndedByRole")),
    )


_BUILDERS: dict[str, _Builder] = {
    "CONVERSATION_MESSAGE": _message,
    "CONVERSATION_PARTICIPANT_CHANGED": _participants,
    "CONVERSATION_ROUTING_RESULT": _routing,
    "CONVERSATION_ROUTING_WORK_RESULT": _work,
    "CONVERSATION_QUEUE_POSITION": _queue,
    "CONVERSATION_TYPING_STARTED_INDICATOR": _typing(started=True),
    "CONVERSATION_TYPING_STOPPED_INDICATOR": _typing(started=False),
    "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT": _ack("delivery"),
    "CONVERSATION_READ_ACKNOWLEDGEMENT": _ack("read"),
    "CONVERSATION_CLOSE_CONVERSATION": _closed,
    "CONVERSATION_SESSION_STATUS_CHANGED": _session,
}

# entryType (list-entries) -> the SSE event type carrying the same kind of entry.
_ENTRY_TYPES: dict[str, str] = {
    "Message": "CONVERSATION_MESSAGE",
    "ParticipantChanged": "CONVERSATION_PARTICIPANT_CHANGED",
    "RoutingResult": "CONVERSATION_ROUTING_RESULT",
    "RoutingWorkResult": "CONVERSATION_ROUTING_WORK_RESULT",
    "QueuePosition": "CONVERSATION_QUEUE_POSITION",
    "TypingStartedIndicator": "CONVERSATION_TYPING_STARTED_INDICATOR",
    "TypingStoppedIndicator": "CONVERSATION_TYPING_STOPPED_INDICATOR",
    "DeliveryAcknowledgement": "CONVERSATION_DELIVERY_ACKNOWLEDGEMENT",
    "ReadAcknowledgement": "CONVERSATION_READ_ACKNOWLEDGEMENT",
    "SessionStatusChanged": "CONVERSATION_SESSION_STATUS_CHANGED",
    # Undocumented entryType for a close (the SSE event is documented, its payload is not).
    "CloseConversation": "CONVERSATION_CLOSE_CONVERSATION",
}


def _common(conversation_id: str | None, entry: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    sender = as_obj(entry.get("sender"))
    return {
        "conversation_id": conversation_id,
        "entry_id": as_str(entry.get("identifier")),
        "event_id": event_id,
        "sender_role": as_str(sender.get("role")),
        "sender_name": as_str(entry.get("senderDisplayName")),
        "sender_subject": as_str(sender.get("subject")),
        "client_timestamp": as_int(entry.get("clientTimestamp")),
        "transcripted_timestamp": as_int(entry.get("transcriptedTimestamp")),
        "server_received_timestamp": as_int(entry.get("serverReceivedTimestamp")),
    }


def _build(
    event_type: str, raw: str, common: dict[str, Any], entry: dict[str, Any], envelope: dict[str, Any]
) -> MiawEvent:
    def unrecognised(reason: str) -> MiawEvent:
        return UnrecognisedEvent(**common, event_type=event_type, data=raw, reason=reason)

    builder = _BUILDERS.get(event_type)
    if builder is None:
        return unrecognised("unknown event type")
    payload = entry.get("entryPayload")
    if isinstance(payload, str):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return unrecognised("entryPayload is not JSON")
    if payload is None:
        # No payload at all: some types (a close) are only known by their event type.
        payload = {}
    if not isinstance(payload, dict):
        return unrecognised("entryPayload is not an object")
    try:
        return builder(_Parts(common, payload, entry, envelope))
    except Exception as exc:  # a decoder bug must not stop a stream: keep the event, raw
        return unrecognised(f"decoder failed: {type(exc).__name__}")


def decode_sse_event(event_type: str, data: str, event_id: str | None = None) -> MiawEvent:
    """Decode one SSE event (`event:` type, `data:` text, `id:`) into a typed event. Never raises."""
    event_id = event_id or None
    if event_type == "ping":
        return PingEvent(event_id=event_id)
    try:
        envelope = orjson.loads(data)
    except orjson.JSONDecodeError:
        # Includes the raw `Jwt is expired` text some clients have seen on an expiring stream.
        return UnrecognisedEvent(event_id=event_id, event_type=event_type, data=data, reason="data is not JSON")
    if not isinstance(envelope, dict):
        return UnrecognisedEvent(event_id=event_id, event_type=event_type, data=data, reason="data is not an object")
    entry = as_obj(envelope.get("conversationEntry"))
    common = _common(as_str(envelope.get("conversationId")), entry, event_id)
    return _build(event_type, data, common, entry, envelope)


def decode_entry(entry: object, conversation_id: str | None) -> MiawEvent:
    """Decode one list-entries item (entryPayload an object, or a string) into a typed event. Never raises."""
    item = as_obj(entry)
    entry_type = as_str(item.get("entryType")) or ""
    try:
        raw = orjson.dumps(entry).decode()
    except TypeError:
        raw = repr(entry)
    common = _common(conversation_id, item, None)
    return _build(_ENTRY_TYPES.get(entry_type, entry_type), raw, common, item, {})
