"""The handover lifecycle as a pure state machine: (snapshot, input) → transition (the snapshot after + effects).

    pending ──conversation created──▶ queued ──agent joined──▶ active ──▶ ended
                                        ▲                        │
                                        └──── transfer ──────────┘

Inputs are MIAW events (from `handover_miaw.miaw.events`) and the runtime's own observations (the user
ended, the token expires soon or expired, the queue wait is over, routing status read after an agent
left, ...). Effects are what the service must do: deliver something to the bot platform, read the routing
status, tell the agent something, close the MIAW conversation. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from handover_miaw.miaw.events import (
    AcknowledgementEvent,
    ConversationClosedEvent,
    MessageEvent,
    MiawEvent,
    ParticipantChangedEvent,
    PingEvent,
    QueuePositionEvent,
    RoutingResultEvent,
    RoutingWorkResultEvent,
    SessionStatusChangedEvent,
    TypingEvent,
    UnrecognisedEvent,
)
from handover_miaw.store.records import HandoverState
from handover_miaw.timestamps import iso_utc

__all__ = [
    "AGENT_ROLES",
    "CheckRoutingStatus",
    "CloseConversation",
    "ConversationCreated",
    "Deliver",
    "Effect",
    "EndRequested",
    "Input",
    "NotifyAgent",
    "Policy",
    "RoutingStatusObserved",
    "Snapshot",
    "TokenExpiring",
    "Transition",
    "effect_from_stored",
    "skippable",
    "skippable_raw_event",
    "step",
    "stored_effect",
]

AGENT_ROLES = frozenset({"Agent", "Chatbot", "Supervisor"})
_TRANSFER_STATUSES = frozenset({"TRANSFER", "NEEDS_ROUTING"})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The part of a handover the machine decides on."""

    state: HandoverState
    agent_name: str | None = None
    queue_position: int | None = None
    estimated_wait_s: int | None = None
    end_status: str | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """Settings that change transitions: the connector's Forward Events and the node's End on Participant Change."""

    forward_events: bool = False
    end_on_participant_change: bool = False


@dataclass(frozen=True, slots=True)
class ConversationCreated:
    """The MIAW conversation exists: the handover waits for routing."""


@dataclass(frozen=True, slots=True)
class RoutingStatusObserved:
    """The routing status read after an agent left (TRANSFER/NEEDS_ROUTING = a transfer)."""

    routing_status: str
    cause_entry_id: str | None = None


@dataclass(frozen=True, slots=True)
class EndRequested:
    """The runtime ends the handover: the user ended it, the token expired, MIAW refused, a timeout."""

    status: str
    reason: str
    close_conversation: bool = False


@dataclass(frozen=True, slots=True)
class TokenExpiring:
    """The MIAW access token reaches its `exp` in `seconds_left`: the agent and the bot are told."""

    expires_at: float
    seconds_left: int


Input = MiawEvent | ConversationCreated | RoutingStatusObserved | EndRequested | TokenExpiring


@dataclass(frozen=True, slots=True)
class Deliver:
    """Deliver to the bot platform; `key` makes the delivery id stable for the same cause."""

    type: str
    data: dict[str, Any]
    key: str


@dataclass(frozen=True, slots=True)
class CheckRoutingStatus:
    """Read the conversation's routing status, then feed back RoutingStatusObserved."""

    cause_entry_id: str | None


@dataclass(frozen=True, slots=True)
class CloseConversation:
    """Close the MIAW conversation (the handover ended on our side)."""


@dataclass(frozen=True, slots=True)
class NotifyAgent:
    """Send a notice into the MIAW conversation; `key` makes its message id stable, so it is sent once."""

    text: str
    key: str


Effect = Deliver | CheckRoutingStatus | CloseConversation | NotifyAgent


def stored_effect(effect: Effect) -> dict[str, Any] | None:
    """The MIAW call an effect needs, as stored with its transition; None for deliveries (the outbox)."""
    match effect:
        case CloseConversation():
            return {"type": "close"}
        case CheckRoutingStatus(cause_entry_id=cause):
            return {"type": "routing_status", "cause": cause}
        case NotifyAgent(text=text, key=key):
            return {"type": "notify", "text": text, "key": key}
    return None


def effect_from_stored(stored: dict[str, Any]) -> Effect | None:
    """The effect back from its stored form; None for a form this version does not know."""
    match stored.get("type"):
        case "close":
            return CloseConversation()
        case "routing_status":
            return CheckRoutingStatus(stored.get("cause"))
        case "notify":
            return NotifyAgent(str(stored.get("text", "")), str(stored.get("key", "")))
    return None


@dataclass(frozen=True, slots=True)
class Transition:
    """What an input does: the snapshot before and after, and the effects, in order."""

    before: Snapshot
    after: Snapshot
    effects: tuple[Effect, ...] = ()

    @property
    def new_state(self) -> HandoverState | None:
        """The state after the transition, when it changes."""
        return self.after.state if self.after.state is not self.before.state else None

    @property
    def changed_fields(self) -> dict[str, Any]:
        """The snapshot's fields that differ after the transition, by name: what the store writes."""
        return {
            f.name: getattr(self.after, f.name)
            for f in fields(Snapshot)
            if getattr(self.after, f.name) != getattr(self.before, f.name)
        }


# What a handler decides: the snapshot after, and the effects.
_Outcome = tuple[Snapshot, list[Effect]]


def _key(event: MiawEvent, suffix: str) -> str:
    return f"{event.entry_id or event.event_id or 'none'}:{suffix}"


def _status(status: str, key: str, **data: Any) -> Deliver:
    return Deliver("handover.status", {"status": status, **{k: v for k, v in data.items() if v is not None}}, key)


def _ended(snap: Snapshot, status: str, reason: str, *, close: bool = False) -> _Outcome:
    effects: list[Effect] = [CloseConversation()] if close else []
    effects.append(Deliver("handover.ended", {"status": status, "reason": reason}, "ended"))
    return replace(snap, state=HandoverState.ENDED, end_status=status, end_reason=reason), effects


def _with_agent(snap: Snapshot, name: str | None) -> Snapshot:
    # Queue figures mean nothing once an agent has the conversation.
    return replace(snap, state=HandoverState.ACTIVE, agent_name=name, queue_position=None, estimated_wait_s=None)


def _forward(policy: Policy, deliver: Deliver) -> list[Effect]:
    return [deliver] if policy.forward_events else []


def _on_message(snap: Snapshot, event: MessageEvent) -> _Outcome:
    if event.sender_role not in AGENT_ROLES:
        return snap, []
    data = {
        "messageId": event.entry_id or event.message_id,
        "text": event.text,
        "role": event.sender_role,
        "agent": {"name": event.sender_name},
        "attachments": [
            {"id": a.attachment_id, "name": a.name, "mimeType": a.mime_type, "url": a.url} for a in event.attachments
        ],
        "choices": [{"id": c.option_id, "title": c.title} for c in event.choices],
    }
    after = snap
    effects: list[Effect] = []
    if snap.state is not HandoverState.ACTIVE and event.sender_role == "Agent":
        # The message proves an agent is there even if its join event was lost.
        after = _with_agent(snap, event.sender_name)
        effects.append(_status("active", _key(event, "active"), agent={"name": event.sender_name}))
    effects.append(Deliver("agent.message", data, _key(event, "message")))
    return after, effects


def _on_participants(snap: Snapshot, event: ParticipantChangedEvent) -> _Outcome:
    after = snap
    effects: list[Effect] = []
    for index, change in enumerate(event.changes):
        if change.role != "Agent":
            continue
        if change.operation == "add":
            after = _with_agent(snap, change.display_name)
            effects.append(_status("active", _key(event, f"active{index}"), agent={"name": change.display_name}))
        elif change.operation == "remove":
            effects.append(CheckRoutingStatus(event.entry_id))
    return after, effects


def _transferred(snap: Snapshot, policy: Policy, key: str) -> _Outcome:
    # MIAW tells of one transfer twice, in either order: the agent's leave (whose routing status reads TRANSFER)
    # and a Transfer routing result. The first re-queues the handover without its agent; the second then finds
    # it so, and the bot hears of the transfer once (it got two, the second naming no agent).
    if snap.state is HandoverState.QUEUED and snap.agent_name is None:
        return snap, []
    after = replace(snap, state=HandoverState.QUEUED, agent_name=None)
    return after, _forward(policy, _status("transferred", key, agent={"name": snap.agent_name}))


def _on_routing_status(snap: Snapshot, observed: RoutingStatusObserved, policy: Policy) -> _Outcome:
    key = f"{observed.cause_entry_id or 'none'}"
    if observed.routing_status in _TRANSFER_STATUSES:
        return _transferred(snap, policy, f"{key}:transferred")
    if policy.end_on_participant_change:
        return _ended(snap, "completed", "agent_left", close=True)
    # The agent's name stays: it is the agent the handover had, shown after the end (MIAW removes the
    # agent just before it ends the session) until another agent joins.
    return snap, _forward(policy, _status("agent_left", f"{key}:agent_left", agent={"name": snap.agent_name}))


def _queued(snap: Snapshot, key: str, position: int | None, wait: int | None) -> _Outcome:
    after = replace(snap, state=HandoverState.QUEUED, queue_position=position, estimated_wait_s=wait)
    return after, [_status("queue", key, position=position, estimatedWaitSeconds=wait)]


def _on_routing_result(snap: Snapshot, event: RoutingResultEvent, policy: Policy) -> _Outcome:
    if event.failed:
        reason = event.failure_reason or event.failure_type or "routing failed"
        forwarded = _forward(policy, _status("routing_failed", _key(event, "failed"), reason=reason))
        after, ended = _ended(snap, "error", "routing_failed", close=True)
        return after, [*forwarded, *ended]
    if event.routing_type == "Transfer":
        return _transferred(snap, policy, _key(event, "transferred"))
    if snap.state is HandoverState.ACTIVE:
        return snap, []
    position = event.queue_position if event.queue_position is not None else snap.queue_position
    return _queued(snap, _key(event, "queue"), position, event.estimated_wait_s)


def _on_queue_position(snap: Snapshot, event: QueuePositionEvent) -> _Outcome:
    if snap.state is HandoverState.ACTIVE:
        return snap, []
    wait = event.estimated_wait_s if event.estimated_wait_s is not None else snap.estimated_wait_s
    return _queued(snap, _key(event, "queue"), event.position, wait)


def _on_session_status(snap: Snapshot, event: SessionStatusChangedEvent) -> _Outcome:
    if event.status == "Ended":
        if event.ended_by_role == "EndUser":
            return _ended(snap, "cancelled", "user_ended")
        return _ended(snap, "completed", "agent_ended")
    return snap, []


def _on_token_expiring(snap: Snapshot, event: TokenExpiring) -> _Outcome:
    # Keyed on the expiry: a fresh token (a new `exp`) gets its own warning; the same one never twice.
    key = f"token_expiring:{int(event.expires_at)}"
    notice = f"The user's chat session expires in about {event.seconds_left} seconds."
    return snap, [
        _status("token_expiring", key, secondsLeft=event.seconds_left, expiresAt=iso_utc(event.expires_at)),
        NotifyAgent(notice, key),
    ]


def skippable(event: Input) -> bool:
    """True for events that change nothing in any state under any policy (the end user's own echoed
    messages, keep-alives, work-item updates, anything unrecognised): the service skips them without
    touching the store, which saves a read and a write for every relayed user message."""
    match event:
        case MessageEvent(sender_role=role):
            return role not in AGENT_ROLES
        case PingEvent() | RoutingWorkResultEvent() | UnrecognisedEvent():
            return True
    return False


# Each agent role as it can appear in JSON text without a \u escape: a string whose value is the role.
_AGENT_ROLE_LITERALS = tuple(f'"{role}"' for role in sorted(AGENT_ROLES))


def skippable_raw_event(event_type: str, data: str) -> bool:
    """True when a raw SSE event is certain to decode to a skippable event, read without decoding it: the end
    user's own echoed messages, one per relayed message, which would otherwise be parsed twice (envelope
    and entryPayload) and built into an event only to be dropped.

    Exact by construction: a CONVERSATION_MESSAGE decodes to a MessageEvent (skippable unless its sender role
    is an agent role) or to an UnrecognisedEvent (skippable). A JSON string equal to an agent role, written
    without a \\u escape, can only be that role in quotes, since letters have no other spelling in JSON; so
    when no agent role appears quoted and no \\u escape appears at all, no string of the envelope (the
    sender's role included) is an agent role. Anything else (an escape anywhere, an agent role anywhere,
    even inside a text) is decoded in full as before: a false "no" costs time, never a message."""
    return (
        event_type == "CONVERSATION_MESSAGE"
        and "\\u" not in data
        and not any(literal in data for literal in _AGENT_ROLE_LITERALS)
    )


def step(snap: Snapshot, event: Input, policy: Policy) -> Transition:
    """Decide what an input does to a handover. An ended handover ignores everything."""
    if snap.state is HandoverState.ENDED:
        return Transition(snap, snap)
    after, effects = _decide(snap, event, policy)
    return Transition(snap, after, tuple(effects))


def _decide(snap: Snapshot, event: Input, policy: Policy) -> _Outcome:
    match event:
        case EndRequested(status=status, reason=reason, close_conversation=close):
            return _ended(snap, status, reason, close=close)
        case TokenExpiring():
            return _on_token_expiring(snap, event)
        case ConversationCreated():
            if snap.state is not HandoverState.PENDING:
                return snap, []
            return replace(snap, state=HandoverState.QUEUED), [_status("queue", "created:queue")]
        case RoutingStatusObserved():
            return _on_routing_status(snap, event, policy)
        case MessageEvent():
            return _on_message(snap, event)
        case ParticipantChangedEvent():
            return _on_participants(snap, event)
        case RoutingResultEvent():
            return _on_routing_result(snap, event, policy)
        case QueuePositionEvent():
            return _on_queue_position(snap, event)
        case SessionStatusChangedEvent():
            return _on_session_status(snap, event)
        case ConversationClosedEvent():
            return _ended(snap, "completed", "conversation_closed")
        case TypingEvent(started=started) if event.sender_role in AGENT_ROLES:
            name = "typing_started" if started else "typing_stopped"
            return snap, _forward(policy, _status(name, _key(event, name), agent={"name": event.sender_name}))
        case AcknowledgementEvent(kind=kind, acknowledged_entry_id=acked):
            status = "delivered" if kind == "delivery" else "read"
            return snap, _forward(policy, _status(status, _key(event, status), messageId=acked))
    return snap, []
