"""Every transition of the pure lifecycle state machine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handover_miaw.handovers.machine import (
    CheckRoutingStatus,
    CloseConversation,
    ConversationCreated,
    Deliver,
    EndRequested,
    Policy,
    RoutingStatusObserved,
    Snapshot,
    Transition,
    step,
)
from handover_miaw.miaw.events import (
    AcknowledgementEvent,
    Attachment,
    ConversationClosedEvent,
    MessageEvent,
    ParticipantChange,
    ParticipantChangedEvent,
    PingEvent,
    QueuePositionEvent,
    RoutingResultEvent,
    SessionStatusChangedEvent,
    TypingEvent,
    UnrecognisedEvent,
)
from handover_miaw.store.records import HandoverState as S

QUIET = Policy()
FORWARD = Policy(forward_events=True)
END_ON_LEAVE = Policy(end_on_participant_change=True)


def _unchanged(t: Transition) -> bool:
    return t.after == t.before and t.effects == ()


def _delivered(t: Transition) -> list[tuple[str, str | None]]:
    return [(e.type, e.data.get("status")) for e in t.effects if isinstance(e, Deliver)]


def _agent_joins(name: str = "Maria") -> ParticipantChangedEvent:
    return ParticipantChangedEvent(
        entry_id="p1", changes=(ParticipantChange("add", "Agent", name, "005x"),), sender_role="System"
    )


def _agent_leaves() -> ParticipantChangedEvent:
    return ParticipantChangedEvent(entry_id="p2", changes=(ParticipantChange("remove", "Agent", "Maria", "005x"),))


def test_conversation_created_queues_and_tells_the_bot() -> None:
    t = step(Snapshot(S.PENDING), ConversationCreated(), QUIET)
    assert t.new_state is S.QUEUED
    assert _delivered(t) == [("handover.status", "queue")]


def test_queue_updates_are_always_delivered() -> None:
    t = step(
        Snapshot(S.QUEUED),
        RoutingResultEvent(entry_id="r1", routing_type="Initial", failure_type="None", estimated_wait_s=120),
        QUIET,
    )
    assert t.changed_fields["estimated_wait_s"] == 120
    assert _delivered(t) == [("handover.status", "queue")]
    t = step(Snapshot(S.QUEUED), QueuePositionEvent(entry_id="q1", position=3), QUIET)
    assert t.changed_fields["queue_position"] == 3
    (effect,) = t.effects
    assert isinstance(effect, Deliver)
    assert effect.data == {"status": "queue", "position": 3}


def test_agent_join_activates_and_clears_the_queue_figures() -> None:
    t = step(Snapshot(S.QUEUED, queue_position=2, estimated_wait_s=90), _agent_joins(), QUIET)
    assert t.changed_fields == {
        "state": S.ACTIVE,
        "agent_name": "Maria",
        "queue_position": None,
        "estimated_wait_s": None,
    }
    (effect,) = t.effects
    assert isinstance(effect, Deliver)
    assert effect.data == {"status": "active", "agent": {"name": "Maria"}}


def test_agent_message_is_always_delivered_with_attachments() -> None:
    event = MessageEvent(
        entry_id="m1",
        sender_role="Agent",
        sender_name="Maria",
        text="Hi Ann",
        attachments=(Attachment("a1", "r.pdf", "application/pdf", "https://f.example.com/r.pdf"),),
    )
    t = step(Snapshot(S.ACTIVE, agent_name="Maria"), event, QUIET)
    assert t.changed_fields == {}
    (effect,) = t.effects
    assert isinstance(effect, Deliver)
    assert effect.type == "agent.message"
    assert effect.data["text"] == "Hi Ann"
    assert effect.data["messageId"] == "m1"
    assert effect.data["attachments"][0]["url"] == "https://f.example.com/r.pdf"


def test_agent_message_while_queued_means_active() -> None:
    t = step(Snapshot(S.QUEUED), MessageEvent(entry_id="m1", sender_role="Agent", sender_name="Bob", text="x"), QUIET)
    assert t.new_state is S.ACTIVE
    assert _delivered(t) == [("handover.status", "active"), ("agent.message", None)]


def test_end_user_echo_is_not_delivered() -> None:
    t = step(Snapshot(S.ACTIVE), MessageEvent(entry_id="u1", sender_role="EndUser", text="hello"), FORWARD)
    assert _unchanged(t)


def test_agent_ending_the_session_completes() -> None:
    t = step(Snapshot(S.ACTIVE), SessionStatusChangedEvent(entry_id="s1", status="Ended"), QUIET)
    assert t.changed_fields == {"state": S.ENDED, "end_status": "completed", "end_reason": "agent_ended"}
    assert _delivered(t) == [("handover.ended", "completed")]


def test_session_waiting_or_active_changes_nothing() -> None:
    assert _unchanged(step(Snapshot(S.ACTIVE), SessionStatusChangedEvent(status="Active"), QUIET))


def test_conversation_close_ends() -> None:
    t = step(Snapshot(S.ACTIVE), ConversationClosedEvent(entry_id="c1"), QUIET)
    assert t.changed_fields["end_reason"] == "conversation_closed"
    assert _delivered(t) == [("handover.ended", "completed")]


@pytest.mark.parametrize("policy", [QUIET, FORWARD])
def test_routing_failure_ends_with_error_and_closes(policy: Policy) -> None:
    event = RoutingResultEvent(
        entry_id="r1", routing_type="Initial", failure_type="RoutingError", failure_reason="No agents"
    )
    t = step(Snapshot(S.QUEUED), event, policy)
    assert t.changed_fields["end_reason"] == "routing_failed"
    assert any(isinstance(e, CloseConversation) for e in t.effects)
    expected = [("handover.ended", "error")]
    if policy.forward_events:
        expected.insert(0, ("handover.status", "routing_failed"))
    assert _delivered(t) == expected


def test_agent_leave_asks_for_the_routing_status() -> None:
    t = step(Snapshot(S.ACTIVE, agent_name="Maria"), _agent_leaves(), END_ON_LEAVE)
    assert t.effects == (CheckRoutingStatus("p2"),)
    assert t.changed_fields == {}


def test_leave_that_is_a_transfer_requeues_even_with_end_on_participant_change() -> None:
    t = step(
        Snapshot(S.ACTIVE, agent_name="Maria"),
        RoutingStatusObserved("TRANSFER", "p2"),
        Policy(forward_events=True, end_on_participant_change=True),
    )
    assert t.new_state is S.QUEUED
    assert _delivered(t) == [("handover.status", "transferred")]


def test_real_leave_ends_when_end_on_participant_change_is_on() -> None:
    t = step(Snapshot(S.ACTIVE, agent_name="Maria"), RoutingStatusObserved("ROUTED", "p2"), END_ON_LEAVE)
    assert t.changed_fields["end_reason"] == "agent_left"
    assert t.effects[0] == CloseConversation()
    assert _delivered(t) == [("handover.ended", "completed")]


@pytest.mark.parametrize(("policy", "expected"), [(QUIET, []), (FORWARD, [("handover.status", "agent_left")])])
def test_real_leave_is_forwarded_only_with_forward_events(policy: Policy, expected: list[tuple[str, str]]) -> None:
    t = step(Snapshot(S.ACTIVE, agent_name="Maria"), RoutingStatusObserved("ROUTED", "p2"), policy)
    assert t.new_state is None
    assert t.changed_fields == {}  # the agent's name stays: the handover shows who it had, after the end too
    assert _delivered(t) == expected


def test_transfer_routing_result_requeues() -> None:
    t = step(
        Snapshot(S.ACTIVE, agent_name="Maria"),
        RoutingResultEvent(entry_id="r2", routing_type="Transfer", failure_type="None"),
        FORWARD,
    )
    assert t.new_state is S.QUEUED
    assert _delivered(t) == [("handover.status", "transferred")]


@pytest.mark.parametrize("order", ["leave first", "routing result first"])
def test_one_transfer_told_twice_by_miaw_reaches_the_bot_once(order: str) -> None:
    leave = RoutingStatusObserved("TRANSFER", "p2")
    result = RoutingResultEvent(entry_id="r2", routing_type="Transfer", failure_type="None")
    first, second = (leave, result) if order == "leave first" else (result, leave)
    snap = Snapshot(S.ACTIVE, agent_name="Maria")
    told = step(snap, first, FORWARD)
    assert _delivered(told) == [("handover.status", "transferred")]
    again = step(replace(snap, state=S.QUEUED, agent_name=None), second, FORWARD)
    assert _unchanged(again)
    assert _delivered(again) == []
    # The next agent's leave is another transfer, told again.
    joined = step(replace(snap, state=S.QUEUED, agent_name=None), _agent_joins("Ann"), FORWARD)
    assert joined.new_state is S.ACTIVE


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (TypingEvent(entry_id="t1", sender_role="Agent", started=True), "typing_started"),
        (TypingEvent(entry_id="t2", sender_role="Agent", started=False), "typing_stopped"),
        (AcknowledgementEvent(entry_id="a1", kind="delivery", acknowledged_entry_id="u1"), "delivered"),
        (AcknowledgementEvent(entry_id="a2", kind="read", acknowledged_entry_id="u1"), "read"),
    ],
)
def test_forwarded_events_follow_the_setting(event: TypingEvent | AcknowledgementEvent, status: str) -> None:
    assert _unchanged(step(Snapshot(S.ACTIVE), event, QUIET))
    assert _delivered(step(Snapshot(S.ACTIVE), event, FORWARD)) == [("handover.status", status)]


def test_end_requested_by_user_closes_the_conversation() -> None:
    t = step(Snapshot(S.QUEUED), EndRequested("cancelled", "user_ended", close_conversation=True), QUIET)
    assert t.changed_fields["end_status"] == "cancelled"
    assert t.effects[0] == CloseConversation()


def test_ended_handover_ignores_everything() -> None:
    ended = Snapshot(S.ENDED)
    for event in (
        _agent_joins(),
        SessionStatusChangedEvent(status="Ended"),
        EndRequested("error", "x"),
        MessageEvent(sender_role="Agent", text="late"),
    ):
        assert _unchanged(step(ended, event, FORWARD))


def test_pings_and_unrecognised_events_change_nothing() -> None:
    assert _unchanged(step(Snapshot(S.ACTIVE), PingEvent(), FORWARD))
    assert _unchanged(step(Snapshot(S.ACTIVE), UnrecognisedEvent(event_type="X", data="{}", reason="unknown"), FORWARD))


def test_delivery_keys_are_stable_per_cause() -> None:
    first = step(Snapshot(S.ACTIVE), MessageEvent(entry_id="m9", sender_role="Agent", text="x"), QUIET)
    again = step(Snapshot(S.ACTIVE), MessageEvent(entry_id="m9", sender_role="Agent", text="x"), QUIET)
    assert first.effects == again.effects


def test_skippable_events_are_exactly_those_that_never_change_anything() -> None:
    from handover_miaw.handovers.machine import skippable
    from handover_miaw.miaw.events import RoutingWorkResultEvent

    skipped_events = [
        MessageEvent(entry_id="u1", sender_role="EndUser", text="echo"),
        PingEvent(),
        RoutingWorkResultEvent(entry_id="w1", work_type="Accepted"),
        UnrecognisedEvent(event_type="X", data="{}", reason="unknown"),
    ]
    for event in skipped_events:
        assert skippable(event)
        for state in (S.PENDING, S.QUEUED, S.ACTIVE):
            for policy in (QUIET, FORWARD, END_ON_LEAVE):
                assert _unchanged(step(Snapshot(state), event, policy))
    assert not skippable(MessageEvent(entry_id="m1", sender_role="Agent", text="hi"))
    assert not skippable(_agent_joins())
    assert not skippable(TypingEvent(entry_id="t1", sender_role="Agent"))


def test_effects_that_call_miaw_round_trip_through_their_stored_form() -> None:
    from handover_miaw.handovers.machine import NotifyAgent, effect_from_stored, stored_effect

    for effect in (CloseConversation(), CheckRoutingStatus("p2"), NotifyAgent("The session ends soon.", "warn:1")):
        stored = stored_effect(effect)
        assert stored is not None
        assert effect_from_stored(stored) == effect
    assert stored_effect(Deliver("agent.message", {}, "k")) is None
    assert effect_from_stored({"type": "from-a-newer-version"}) is None
