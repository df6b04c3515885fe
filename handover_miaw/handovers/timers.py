"""Time-driven inputs of a live handover: the token's expiry and the queue limit. Pure: no I/O, no clock.

The watchdog asks `due()` about each live handover once `next_due()` says something can be due (or what
it decided on was replaced) and feeds the answer to the state machine, so the decisions are the same
after a restart (they read only stored fields and the token) and each rule is a unit test:

| condition                                          | input                                            |
|----------------------------------------------------|--------------------------------------------------|
| the token's `exp` has passed                       | EndRequested(error, token_expired)               |
| `exp` is within the warning time, not yet warned   | TokenExpiring(exp, seconds left)                 |
| queued for `queue_timeout_s` or longer (limit on)  | EndRequested(error, queue_timeout, close)        |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from handover_miaw.handovers.machine import EndRequested, Input, TokenExpiring
from handover_miaw.store.records import HandoverRecord, HandoverState

__all__ = ["TimerPolicy", "due", "next_due"]


@dataclass(frozen=True, slots=True)
class TimerPolicy:
    """The runtime's time limits; `queue_timeout_s` 0 means no limit."""

    token_warning_s: float = 120.0
    queue_timeout_s: float = 1800.0


def due(
    record: HandoverRecord,
    token_expires_at: float | None,
    warned_for: float | None,
    now: float,
    policy: TimerPolicy,
) -> Input | None:
    """The input that time makes due for this handover now, if any.

    `warned_for` is the expiry already warned about (so a warning is given once per token expiry).
    """
    if not record.is_live or record.state is HandoverState.PENDING:
        return None  # a handover being started is the start request's business
    if token_expires_at is not None:
        if now >= token_expires_at:
            return EndRequested("error", "token_expired")
        if now >= token_expires_at - policy.token_warning_s and warned_for != token_expires_at:
            return TokenExpiring(token_expires_at, math.ceil(token_expires_at - now))
    if (
        policy.queue_timeout_s > 0
        and record.state is HandoverState.QUEUED
        and record.queued_at is not None
        and now >= record.queued_at + policy.queue_timeout_s
    ):
        return EndRequested("error", "queue_timeout", close_conversation=True)
    return None


def next_due(
    record: HandoverRecord, token_expires_at: float | None, warned_for: float | None, policy: TimerPolicy
) -> float:
    """The earliest time at which `due` can give an input for these same arguments (`math.inf`: never);
    before it, `due` gives None. The watchdog skips a handover until then while its record, token and
    warning stay the same: asking `due` about every handover on every tick was most of an idle runtime's CPU
    at 10,000 live handovers."""
    if not record.is_live or record.state is HandoverState.PENDING:
        return math.inf
    times = [math.inf]
    if token_expires_at is not None:
        times.append(token_expires_at)
        if warned_for != token_expires_at:
            times.append(token_expires_at - policy.token_warning_s)
    if policy.queue_timeout_s > 0 and record.state is HandoverState.QUEUED and record.queued_at is not None:
        times.append(record.queued_at + policy.queue_timeout_s)
    return min(times)
