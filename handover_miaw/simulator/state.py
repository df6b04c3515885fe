"""The simulator's in-memory model: conversations, their entries and what the end user sent.

Pure data and bookkeeping (no I/O, no aiohttp) so it can be reasoned about and tested on its own.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Ack",
    "Clock",
    "Conversation",
    "EndUserMessage",
    "Entry",
    "Sender",
    "SimulatorError",
    "Store",
]

Clock = Callable[[], float]
"""Returns epoch seconds."""


class SimulatorError(Exception):
    """A request the simulator refuses; ``status`` and ``code`` become the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Sender:
    """Who wrote an entry, as MIAW names it (``role``, ``appType``, ``subject``)."""

    role: str
    app_type: str
    subject: str
    display_name: str

    def as_json(self) -> dict[str, str]:
        """The ``sender`` object of a conversation entry."""
        return {"role": self.role, "appType": self.app_type, "subject": self.subject}


@dataclass
class Entry:
    """One conversation entry; ``payload`` is the parsed ``entryPayload``."""

    identifier: str
    entry_type: str
    payload: dict[str, Any]
    sender: Sender
    client_timestamp: int
    server_received_timestamp: int
    transcripted_timestamp: int
    related_records: list[str]
    # Typing indicators and queue updates are delivered live but not kept in the transcript.
    persisted: bool = True


@dataclass
class EndUserMessage:
    """Something the end user sent, in the order received (read back by tests and the demo)."""

    id: str
    message_type: str
    text: str | None
    timestamp: int
    in_reply_to: str | None = None
    selected_options: list[str] = field(default_factory=list)
    file_name: str | None = None
    mime_type: str | None = None
    file_id: str | None = None
    # When the agent's side acknowledged it (epoch ms), through /_sim .../delivered and .../read.
    delivered_at: int | None = None
    read_at: int | None = None

    def as_json(self) -> dict[str, Any]:
        """Control-API view of the message."""
        return {
            "id": self.id,
            "messageType": self.message_type,
            "text": self.text,
            "timestamp": self.timestamp,
            "inReplyToMessageId": self.in_reply_to,
            "selectedOptions": self.selected_options,
            "fileName": self.file_name,
            "mimeType": self.mime_type,
            "fileId": self.file_id,
            "deliveredAt": self.delivered_at,
            "readAt": self.read_at,
        }


@dataclass(frozen=True)
class Ack:
    """A delivery or read receipt the end user sent for an agent entry."""

    id: str
    entry_type: str
    conversation_entry_id: str


@dataclass
class Conversation:
    """One MIAW conversation and its current messaging session."""

    id: str
    subject: str
    es_developer_name: str
    created_ms: int
    session_id: str
    routing_attributes: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    routing_status: str = "INITIAL"
    session_status: str = "Waiting"
    agent: str | None = None
    transfer_to: str | None = None
    closed_ms: int | None = None
    entries: list[Entry] = field(default_factory=list)
    # Every send looks its id up (resent ids are answered, not re-posted): a scan grew with the conversation.
    _entry_index: dict[str, Entry] = field(default_factory=dict, repr=False)
    end_user_messages: list[EndUserMessage] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    end_user_typing: bool = False
    sessions: int = 1

    @property
    def closed(self) -> bool:
        """True once either side closed the conversation."""
        return self.closed_ms is not None

    def entry(self, identifier: str) -> Entry | None:
        """The entry with ``identifier``, if any."""
        return self._entry_index.get(identifier)

    def end_user_message(self, message_id: str | None) -> EndUserMessage:
        """The end user's message ``message_id`` (their latest if None), or a 4xx error."""
        if not self.end_user_messages:
            raise SimulatorError(409, "NO_MESSAGE", "The end user has not sent anything yet.")
        if message_id is None:
            return self.end_user_messages[-1]
        for message in self.end_user_messages:
            if message.id == message_id:
                return message
        raise SimulatorError(404, "NOT_FOUND", f"No end-user message {message_id} in this conversation.")

    def add_entry(self, entry: Entry) -> None:
        """Append a persisted entry."""
        self.entries.append(entry)
        self._entry_index.setdefault(entry.identifier, entry)

    def as_json(self) -> dict[str, Any]:
        """Control-API view of the conversation."""
        return {
            "conversationId": self.id,
            "subject": self.subject,
            "routingStatus": self.routing_status,
            "sessionStatus": self.session_status,
            "sessionId": self.session_id,
            "sessions": self.sessions,
            "agent": self.agent,
            "closed": self.closed,
            "routingAttributes": self.routing_attributes,
            "language": self.language,
            "endUserTyping": self.end_user_typing,
            "endUserMessages": [m.as_json() for m in self.end_user_messages],
            "acks": [
                {"id": a.id, "entryType": a.entry_type, "conversationEntryId": a.conversation_entry_id}
                for a in self.acks
            ],
            "entryCount": len(self.entries),
        }


class Store:
    """All conversations, plus a clock whose millisecond stamps never repeat or go backwards."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self.conversations: dict[str, Conversation] = {}
        self._last_ms = 0
        self._record_ids = itertools.count(1)

    def now_ms(self) -> int:
        """Epoch milliseconds, strictly increasing so entries order and filter unambiguously."""
        self._last_ms = max(int(self.clock() * 1000), self._last_ms + 1)
        return self._last_ms

    def new_record_id(self, prefix: str) -> str:
        """A Salesforce-looking 15-character record id (``0Mw`` sessions, ``005`` users ...)."""
        return f"{prefix}{next(self._record_ids):012d}"

    def get(self, conversation_id: str) -> Conversation:
        """The conversation, or a 404 error."""
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise SimulatorError(404, "NOT_FOUND", f"Conversation {conversation_id} not found.")
        return conversation

    def owned(self, conversation_id: str, subject: str) -> Conversation:
        """The conversation if ``subject`` owns it; another subject's conversation looks unknown (404)."""
        conversation = self.get(conversation_id)
        if conversation.subject != subject:
            raise SimulatorError(404, "NOT_FOUND", f"Conversation {conversation_id} not found.")
        return conversation

    def open_conversation(self, conversation_id: str) -> Conversation:
        """The conversation if it is still open, else a 403 error."""
        conversation = self.get(conversation_id)
        if conversation.closed:
            raise SimulatorError(403, "CONVERSATION_CLOSED", f"Conversation {conversation_id} is closed.")
        return conversation
