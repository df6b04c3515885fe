"""Typed MIAW events: immutable, slotted dataclasses (pure; decoding lives in `decoding.py`).

Every event may carry `conversation_id` (the stream filters on it), `entry_id` (the conversation entry
identifier: the dedupe key), `event_id` (the SSE id: the stream cursor after this event), the sender and
timestamps. `UnrecognisedEvent` keeps whatever could not be decoded, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AcknowledgementEvent",
    "Attachment",
    "ChoiceOption",
    "ConversationClosedEvent",
    "MessageEvent",
    "MiawEvent",
    "ParticipantChange",
    "ParticipantChangedEvent",
    "PingEvent",
    "QueuePositionEvent",
    "RoutingResultEvent",
    "RoutingWorkResultEvent",
    "SessionStatusChangedEvent",
    "TypingEvent",
    "UnrecognisedEvent",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MiawEvent:
    """Fields every event may carry. Timestamps are epoch milliseconds.

    `entry_id` is the conversation entry identifier (dedupe key; for the end user's own messages it
    equals the message id that was sent). `event_id` is the SSE id, i.e. the stream cursor after this
    event; None for entries read through list-entries.
    """

    conversation_id: str | None = None
    entry_id: str | None = None
    event_id: str | None = None
    sender_role: str | None = None
    sender_name: str | None = None
    sender_subject: str | None = None
    client_timestamp: int | None = None
    transcripted_timestamp: int | None = None
    server_received_timestamp: int | None = None

    @property
    def timestamp(self) -> int | None:
        """The best server-side time of the entry (transcripted, received, else client time)."""
        for value in (self.transcripted_timestamp, self.server_received_timestamp, self.client_timestamp):
            if value is not None:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ChoiceOption:
    """One button / quick reply of a ChoicesMessage."""

    option_id: str | None
    title: str | None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file an agent sent."""

    attachment_id: str | None
    name: str | None
    mime_type: str | None
    url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEvent(MiawEvent):
    """A message from an agent, bot or system, or the echo of the end user's own message."""

    message_id: str | None = None
    message_type: str | None = None
    format_type: str | None = None
    text: str | None = None
    choices: tuple[ChoiceOption, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    in_reply_to_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParticipantChange:
    """One participant joining (`add`) or leaving (`remove`)."""

    operation: str | None
    role: str | None
    display_name: str | None
    subject: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantChangedEvent(MiawEvent):
    """Agents or bots joined or left (the end user never appears here)."""

    changes: tuple[ParticipantChange, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingResultEvent(MiawEvent):
    """Outcome of routing (`Initial`) or of a transfer (`Transfer`). failure_type `None` = accepted."""

    routing_type: str | None = None
    failure_type: str | None = None
    failure_reason: str | None = None
    error_messages: tuple[str, ...] = ()
    estimated_wait_s: int | None = None
    queue_position: int | None = None
    record_id: str | None = None

    @property
    def failed(self) -> bool:
        """True when routing reports a failure (anything but an absent or `None` failure type)."""
        return self.failure_type not in (None, "None")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingWorkResultEvent(MiawEvent):
    """Work item state: Assigned, Accepted, Declined, Cancelled, Closed, Transferred, ..."""

    work_type: str | None = None
    parent_entry_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePositionEvent(MiawEvent):
    """Position in the queue (payload shape undocumented; several likely shapes are accepted)."""

    position: int | None = None
    estimated_wait_s: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TypingEvent(MiawEvent):
    """A remote participant started or stopped typing."""

    started: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgementEvent(MiawEvent):
    """An end-user message was delivered or read; `acknowledged_entry_id` is relatedRecords[0]."""

    kind: Literal["delivery", "read"] = "delivery"
    acknowledged_entry_id: str | None = None
    acknowledged_at: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationClosedEvent(MiawEvent):
    """The conversation was closed (per the docs, only when the end user closes it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStatusChangedEvent(MiawEvent):
    """Messaging session status: Waiting, Active, Ended (an agent ending the chat shows up here)."""

    status: str | None = None
    previous_status: str | None = None
    ended_by_role: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PingEvent(MiawEvent):
    """Keep-alive."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnrecognisedEvent(MiawEvent):
    """Anything the decoder could not turn into a typed event, kept raw with the reason."""

    event_type: str = ""
    data: str = ""
    reason: str = ""
