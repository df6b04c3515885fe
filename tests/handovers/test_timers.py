"""The time-driven inputs, row by row: token warning, token expiry, queue limit (pure, no clock)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handover_miaw.handovers.machine import (
    Deliver,
    EndRequested,
    NotifyAgent,
    Policy,
    Snapshot,
    TokenExpiring,
    step,
)
from handover_miaw.handovers.timers import TimerPolicy, due, next_due
from handover_miaw.store.records import HandoverState
from tests.store.factories import T0, handover

POLICY = TimerPolicy(token_warning_s=60, queue_timeout_s=300)
EXP = T0 + 3600


def _due(state: HandoverState, now: float, *, warned: float | None = None, queued_at: float | None = T0) -> object:
    record = handover(state=state, queued_at=queued_at)
    return due(record, EXP, warned, now, POLICY)


def test_nothing_is_due_early() -> None:
    assert _due(HandoverState.ACTIVE, EXP - 61) is None


def test_warning_inside_the_warning_time_once_per_expiry() -> None:
    assert _due(HandoverState.ACTIVE, EXP - 59.5) == TokenExpiring(EXP, 60)
    assert _due(HandoverState.ACTIVE, EXP - 30, warned=EXP) is None
    assert _due(HandoverState.ACTIVE, EXP - 30, warned=EXP - 1000) == TokenExpiring(EXP, 30)


@pytest.mark.parametrize("state", [HandoverState.QUEUED, HandoverState.ACTIVE])
def test_expiry_ends_the_handover(state: HandoverState) -> None:
    assert _due(state, EXP, warned=EXP) == EndRequested("error", "token_expired")


@pytest.mark.parametrize("state", [HandoverState.PENDING, HandoverState.ENDED])
def test_pending_and_ended_handovers_are_left_alone(state: HandoverState) -> None:
    assert _due(state, EXP + 1) is None


def test_queue_limit_counts_from_queued_at() -> None:
    assert _due(HandoverState.QUEUED, T0 + 299) is None
    assert _due(HandoverState.QUEUED, T0 + 300) == EndRequested("error", "queue_timeout", close_conversation=True)
    assert _due(HandoverState.ACTIVE, T0 + 301, queued_at=None) is None


def test_queue_limit_zero_is_off() -> None:
    record = handover(state=HandoverState.QUEUED, queued_at=T0)
    assert due(record, None, None, T0 + 10**6, TimerPolicy(queue_timeout_s=0)) is None


def test_token_expiring_tells_the_bot_and_the_agent_with_stable_keys() -> None:
    transition = step(Snapshot(HandoverState.ACTIVE), TokenExpiring(EXP, 60), Policy())
    assert transition.changed_fields == {}
    deliver, notify = transition.effects
    assert isinstance(deliver, Deliver)
    assert isinstance(notify, NotifyAgent)
    assert deliver.type == "handover.status"
    assert deliver.data["status"] == "token_expiring"
    assert deliver.data["secondsLeft"] == 60
    assert deliver.data["expiresAt"].endswith("Z")
    assert "60 seconds" in notify.text
    assert deliver.key == notify.key == f"token_expiring:{int(EXP)}"


@given(
    state=st.sampled_from(list(HandoverState)),
    expires_in=st.one_of(st.none(), st.floats(min_value=-500, max_value=5000)),
    warned=st.sampled_from(["none", "this", "other"]),
    queued_ago=st.one_of(st.none(), st.floats(min_value=0, max_value=1000)),
    queue_timeout_s=st.sampled_from([0.0, 300.0, 0.5]),
    warning_s=st.sampled_from([60.0, 0.0, -30.0]),  # negative: refused by the settings, still a lower bound
    probe=st.floats(min_value=0, max_value=1),
)
def test_next_due_is_the_first_time_anything_is_due(
    state: HandoverState,
    expires_in: float | None,
    warned: str,
    queued_ago: float | None,
    queue_timeout_s: float,
    warning_s: float,
    probe: float,
) -> None:
    # The watchdog skips a handover until next_due: nothing may be due before it, something is due at it.
    policy = TimerPolicy(token_warning_s=warning_s, queue_timeout_s=queue_timeout_s)
    record = handover(state=state, queued_at=None if queued_ago is None else T0 - queued_ago)
    expires_at = None if expires_in is None else T0 + expires_in
    warned_for = {"none": None, "this": expires_at, "other": T0 - 1}[warned]
    at = next_due(record, expires_at, warned_for, policy)
    if math.isinf(at):
        assert due(record, expires_at, warned_for, T0 + 10_000, policy) is None
        return
    assert due(record, expires_at, warned_for, at, policy) is not None
    assert due(record, expires_at, warned_for, at - 0.001 - probe * 5000, policy) is None
