"""The :class:`Simulator`: state, event publishing, agent actions and fault switches in one object.

The REST handlers (end-user side) and the ``/_sim`` control API (agent side) both drive it; tests and the
demo may also call its methods directly.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from . import events
from .config import SimulatorConfig
from .faults import FaultPlan, Hold
from .hub import EventHub, StoredEvent
from .state import Clock, Conversation, EndUserMessage, Entry, Sender, SimulatorError, Store
from .tokens import TokenIssuer

__all__ = ["CallRecord", "ConversationListener", "Simulator", "StoredFile"]

ROUTER = Sender("Router", "iamessage", "v2/iamessage/ROUTER", "Automated Process")
SYSTEM = Sender("System", "iamessage", "v2/iamessage/SYSTEM", "Automated Process")


@dataclass(frozen=True)
class CallRecord:
    """One REST call as the simulator answered it."""

    endpoint: str
    method: str
    path: str
    status: int
    at: float = 0.0
    """When it was answered (epoch seconds), for forgetting old records."""

    def as_json(self) -> dict[str, Any]:
        """Control-API view of the call."""
        return {"endpoint": self.endpoint, "method": self.method, "path": self.path, "status": self.status}


@dataclass(frozen=True)
class StoredFile:
    """A file the end user uploaded (served back under ``/_sim/files/{id}``)."""

    name: str
    mime_type: str
    data: bytes


class ConversationListener(Protocol):
    """Observer of end-user activity (the scripted agent is one)."""

    def session_started(self, conversation: Conversation) -> None:
        """A conversation was created or a new messaging session opened in it."""

    def end_user_message(self, conversation: Conversation, message: EndUserMessage) -> None:
        """The end user sent a message (never called twice for one message id)."""

    def session_ended(self, conversation: Conversation) -> None:
        """The messaging session ended or the conversation closed."""


class Simulator:
    """In-memory MIAW: what both HTTP faces of the simulator act on."""

    def __init__(self, config: SimulatorConfig | None = None, clock: Clock = time.time) -> None:
        self.config = config or SimulatorConfig()
        self.store = Store(clock)
        self.tokens = TokenIssuer(self.config.token_lifetime_s, clock)
        self.hub = EventHub()
        self.faults = FaultPlan()
        self.calls: list[CallRecord] = []
        self.files: dict[str, StoredFile] = {}
        self.listeners: list[ConversationListener] = []
        self._agent_subjects: dict[str, str] = {}

    # -- bookkeeping -------------------------------------------------------------------------------

    def record_call(self, endpoint: str, method: str, path: str, status: int) -> None:
        """Append a REST call to the call log."""
        self.calls.append(CallRecord(endpoint, method, path, status, self.store.clock()))

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation (404 :class:`SimulatorError` if unknown)."""
        return self.store.get(conversation_id)

    def agent_sender(self, name: str) -> Sender:
        """The sender of entries written by agent ``name`` (a stable ``005`` user id per name)."""
        subject = self._agent_subjects.setdefault(name, self.store.new_record_id("005"))
        return Sender("Agent", "agent", subject, name)

    def emit(
        self,
        conversation: Conversation,
        payload: dict[str, Any],
        sender: Sender,
        *,
        persisted: bool = True,
        client_timestamp: int | None = None,
        related_records: list[str] | None = None,
    ) -> Entry:
        """Record an entry and publish it on the streams of the conversation's subject; ``relatedRecords``
        is the session id unless given (an acknowledgement names the acknowledged message there)."""
        now = self.store.now_ms()
        entry = Entry(
            identifier=payload["id"],
            entry_type=payload["entryType"],
            payload=payload,
            sender=sender,
            client_timestamp=client_timestamp if client_timestamp is not None else now,
            server_received_timestamp=now,
            transcripted_timestamp=now,
            related_records=related_records if related_records is not None else [conversation.session_id],
            persisted=persisted,
        )
        if persisted:
            conversation.add_entry(entry)
        event_id = self.hub.next_id()
        data = events.envelope(entry, conversation.id, self.config)
        event_type = events.EVENT_TYPES[entry.entry_type]
        stored = StoredEvent(event_id, conversation.subject, event_type, events.frame(event_type, event_id, data))
        self.hub.publish(stored, twice=self.faults.take_duplicate())
        return entry

    def _set_session(self, conversation: Conversation, status: str, ended_by: str | None = None) -> None:
        previous = conversation.session_status
        conversation.session_status = status
        payload = events.session_status_changed(str(uuid.uuid4()), status, previous, ended_by)
        self.emit(conversation, payload, SYSTEM)

    def _agent_leaves(self, conversation: Conversation) -> None:
        if conversation.agent is None:
            return
        sender = self.agent_sender(conversation.agent)
        payload = events.participant_changed(
            str(uuid.uuid4()), "remove", conversation.agent, "Agent", "agent", sender.subject
        )
        conversation.agent = None
        self.emit(conversation, payload, SYSTEM)

    def end_session_by(self, conversation: Conversation, role: str) -> None:
        """End the messaging session (agent or end user); the conversation itself stays open."""
        if conversation.session_status == "Ended":
            return
        self._agent_leaves(conversation)
        conversation.routing_status = "INITIAL"
        conversation.transfer_to = None
        self._set_session(conversation, "Ended", role)
        for listener in list(self.listeners):
            listener.session_ended(conversation)

    def start_new_session(self, conversation: Conversation) -> None:
        """Open a new messaging session in an open conversation whose last session ended."""
        conversation.session_id = self.store.new_record_id("0Mw")
        conversation.sessions += 1
        conversation.routing_status = "INITIAL"
        self._set_session(conversation, "Waiting")
        for listener in list(self.listeners):
            listener.session_started(conversation)

    def notify_created(self, conversation: Conversation) -> None:
        """Tell listeners a conversation (and its first session) exists."""
        for listener in list(self.listeners):
            listener.session_started(conversation)

    def notify_message(self, conversation: Conversation, message: EndUserMessage) -> None:
        """Tell listeners the end user wrote something."""
        for listener in list(self.listeners):
            listener.end_user_message(conversation, message)

    def _active(self, conversation_id: str) -> Conversation:
        conversation = self.store.open_conversation(conversation_id)
        if conversation.session_status == "Ended":
            raise SimulatorError(409, "NO_ACTIVE_SESSION", "The messaging session has ended.")
        return conversation

    def _speaker(self, conversation: Conversation, agent: str | None) -> Sender:
        name = agent or conversation.agent
        if name is None:
            raise SimulatorError(409, "NO_AGENT", "No agent has joined; accept() first or name one.")
        return self.agent_sender(name)

    # -- agent and routing actions -----------------------------------------------------------------

    async def route(self, conversation_id: str, queue_position: int = 1, estimated_wait_s: int = 60) -> None:
        """Put the conversation in a queue: RoutingResult (Initial, failureType None) + QueuePosition."""
        conversation = self._active(conversation_id)
        conversation.routing_status = "NEEDS_ROUTING"
        payload = events.routing_result(
            str(uuid.uuid4()), conversation.session_id, "Initial", estimated_wait_s=estimated_wait_s
        )
        self.emit(conversation, payload, ROUTER)
        await self.queue_position(conversation_id, queue_position)

    async def queue_position(self, conversation_id: str, position: int) -> None:
        """Tell the end user where they stand in the queue."""
        conversation = self._active(conversation_id)
        self.emit(conversation, events.queue_position(str(uuid.uuid4()), position), ROUTER, persisted=False)

    async def fail_routing(
        self, conversation_id: str, failure_type: str = "RoutingError", reason: str | None = None
    ) -> None:
        """Routing failed: RoutingResult with ``failureType``; the conversation is unrouted again."""
        conversation = self._active(conversation_id)
        conversation.routing_status = "INITIAL"
        payload = events.routing_result(
            str(uuid.uuid4()),
            conversation.session_id,
            "Initial",
            failure_type=failure_type,
            failure_reason=reason or "No agent is available.",
        )
        self.emit(conversation, payload, ROUTER)

    async def accept(self, conversation_id: str, agent: str | None = None) -> None:
        """An agent takes the work: RoutingWorkResult Accepted, ParticipantChanged add, session Active.

        ``agent`` defaults to the transfer target if a transfer is pending, else "Maria".
        """
        conversation = self._active(conversation_id)
        name = agent or conversation.transfer_to or "Maria"
        if conversation.agent is not None:
            raise SimulatorError(409, "AGENT_PRESENT", f"{conversation.agent} is already in the chat.")
        sender = self.agent_sender(name)
        work = events.routing_work_result(str(uuid.uuid4()), "Accepted", None)
        self.emit(conversation, work, ROUTER)
        conversation.agent = name
        conversation.transfer_to = None
        conversation.routing_status = "ROUTED"
        joined = events.participant_changed(str(uuid.uuid4()), "add", name, "Agent", "agent", sender.subject)
        self.emit(conversation, joined, SYSTEM)
        if conversation.session_status != "Active":
            self._set_session(conversation, "Active")

    async def send_text(self, conversation_id: str, text: str, agent: str | None = None) -> str:
        """The agent (current one unless named) writes ``text``; returns the entry id."""
        conversation = self._active(conversation_id)
        sender = self._speaker(conversation, agent)
        entry_id = str(uuid.uuid4())
        self.emit(conversation, events.text_message(entry_id, text), sender)
        return entry_id

    async def send_choices(self, conversation_id: str, text: str, options: list[str], agent: str | None = None) -> str:
        """The agent offers buttons; returns the entry id (option ids are fresh UUIDs)."""
        conversation = self._active(conversation_id)
        sender = self._speaker(conversation, agent)
        entry_id = str(uuid.uuid4())
        items = [(str(uuid.uuid4()), title) for title in options]
        self.emit(conversation, events.choices_message(entry_id, text, items), sender)
        return entry_id

    async def typing(self, conversation_id: str, on: bool, agent: str | None = None) -> None:
        """The agent starts or stops typing (delivered live, not kept in the transcript)."""
        conversation = self._active(conversation_id)
        sender = self._speaker(conversation, agent)
        payload = events.typing_indicator(str(uuid.uuid4()), on, self.store.now_ms())
        self.emit(conversation, payload, sender, persisted=False)

    async def send_file(
        self, conversation_id: str, name: str, mime_type: str, url: str, agent: str | None = None
    ) -> str:
        """The agent shares a file by URL; returns the entry id."""
        conversation = self._active(conversation_id)
        sender = self._speaker(conversation, agent)
        entry_id = str(uuid.uuid4())
        payload = events.attachment_message(entry_id, str(uuid.uuid4()), name, mime_type, url)
        self.emit(conversation, payload, sender)
        return entry_id

    async def acknowledge(
        self, conversation_id: str, read: bool, message_id: str | None = None, agent: str | None = None
    ) -> str:
        """The agent's side received (or read) an end-user message, the latest unless named: a
        DeliveryAcknowledgement / ReadAcknowledgement entry from the agent. Returns the entry id."""
        conversation = self._active(conversation_id)
        sender = self._speaker(conversation, agent)
        message = conversation.end_user_message(message_id)
        now = self.store.now_ms()
        if read:
            message.read_at = now
        else:
            message.delivered_at = now
        entry_id = str(uuid.uuid4())
        payload = events.acknowledgement(entry_id, read, now)
        self.emit(conversation, payload, sender, related_records=[message.id])
        return entry_id

    async def transfer(self, conversation_id: str, to_agent: str) -> None:
        """Start a transfer: the agent leaves, routing status TRANSFER; ``to_agent`` joins on accept()."""
        conversation = self._active(conversation_id)
        if conversation.agent is None:
            raise SimulatorError(409, "NO_AGENT", "Nobody to transfer from.")
        self.emit(conversation, events.routing_work_result(str(uuid.uuid4()), "Transferred", None), ROUTER)
        self._agent_leaves(conversation)
        conversation.routing_status = "TRANSFER"
        conversation.transfer_to = to_agent
        payload = events.routing_result(str(uuid.uuid4()), conversation.session_id, "Transfer")
        self.emit(conversation, payload, ROUTER)

    async def leave(self, conversation_id: str) -> None:
        """The agent leaves without ending the session (routing status stays as it was)."""
        conversation = self._active(conversation_id)
        if conversation.agent is None:
            raise SimulatorError(409, "NO_AGENT", "No agent to leave.")
        self._agent_leaves(conversation)

    async def end_session(self, conversation_id: str) -> None:
        """The agent ends the chat: agent removed, SessionStatusChanged Ended (sessionEndedByRole Agent)."""
        conversation = self.store.open_conversation(conversation_id)
        self.end_session_by(conversation, "Agent")

    async def close(self, conversation_id: str) -> None:
        """Close the conversation on the Salesforce side; the end user's later writes get 403.

        Emits what MIAW documents for a session that ends by anyone but the end user (miaw-api.md §4.3):
        the agent's ParticipantChanged remove, then SessionStatusChanged Ended, ended by role System (nobody
        in the agent seat did it). No CONVERSATION_CLOSE_CONVERSATION: the reference says it fires only when
        the end user closes. A conversation whose session already ended gets no event (none is documented).
        """
        conversation = self.store.open_conversation(conversation_id)
        self.end_session_by(conversation, "System")
        conversation.closed_ms = self.store.now_ms()

    # -- faults ------------------------------------------------------------------------------------

    def drop_streams(self, every_n_events: int | None = None) -> None:
        """End every open stream now (None) or make each stream end after ``every_n_events`` events."""
        if every_n_events is None:
            self.hub.close_all()
        elif every_n_events < 1:
            raise SimulatorError(400, "INVALID_FAULT", "everyNEvents must be >= 1 or null.")
        else:
            self.faults.drop_every_n_events = every_n_events

    def fail_next(self, endpoint: str, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer ``status`` (429 with Retry-After) to the next ``count`` calls of ``endpoint``."""
        self.faults.fail_next(endpoint, status, count, retry_after)

    def add_latency(self, endpoint: str, seconds: float) -> None:
        """Delay every call of ``endpoint`` by ``seconds``."""
        self.faults.add_latency(endpoint, seconds)

    def hold(self, endpoint: str) -> Hold:
        """Keep every call of ``endpoint`` waiting until the returned hold is released (in-process only)."""
        return self.faults.hold(endpoint)

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 from now on; open streams end (reconnects get 401)."""
        self.tokens.expire_all()
        self.hub.close_all()

    def duplicate_next_events(self, count: int) -> None:
        """Emit the next ``count`` events twice on the wire, with the same id."""
        if count < 0:
            raise SimulatorError(400, "INVALID_FAULT", "count must be >= 0.")
        self.faults.duplicate_remaining = count

    def stop_heartbeat(self, stopped: bool = True) -> None:
        """Silence (or restore) the pings; streams stay open."""
        self.faults.heartbeat_stopped = stopped

    def reset_faults(self) -> None:
        """Remove every injected fault (held calls go on)."""
        self.faults.release_holds()
        self.faults = FaultPlan()
