"""The watchdog asks `timers.due` about a handover again only when something can be due: its time came
(`timers.next_due`), or the record, token or warning it decided on was replaced."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from handover_miaw.handovers import machine, timers, watchdog
from handover_miaw.handovers.engine import HandoverEngine
from handover_miaw.handovers.live import LiveHandover
from handover_miaw.handovers.timers import TimerPolicy
from handover_miaw.handovers.watchdog import Watchdog
from handover_miaw.miaw import AccessToken, MiawClient
from handover_miaw.store.records import HandoverState
from tests.store.factories import T0, handover

POLICY = TimerPolicy(token_warning_s=60, queue_timeout_s=300)


class _Engine:
    """The engine's part the watchdog uses: the served handovers, refresh and apply (recorded)."""

    def __init__(self, served: list[LiveHandover]) -> None:
        self._served = served
        self.applied: list[tuple[str, machine.Input]] = []

    def served(self) -> list[LiveHandover]:
        return self._served

    async def refresh(self, live: LiveHandover) -> None:
        return None

    async def apply(self, handover_id: str, event: machine.Input, *, entry_id: str | None) -> None:
        self.applied.append((handover_id, event))


def _token(expires_at: float) -> AccessToken:
    return AccessToken("t" * 40, None, "v2/iamessage/UNAUTH/NA/uid:x", expires_at, False)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The handover ids `due` was asked about, in order."""
    calls: list[str] = []

    def counting_due(record: Any, *args: Any) -> machine.Input | None:
        calls.append(record.id)
        return timers.due(record, *args)

    monkeypatch.setattr(watchdog, "due", counting_due)
    return calls


async def test_a_handover_with_nothing_due_is_asked_about_once_until_its_time(asked: list[str]) -> None:
    now = [T0]
    queued = LiveHandover(handover(id="h1", state=HandoverState.QUEUED, queued_at=T0), cast(MiawClient, None),
                          _token(T0 + 3600))  # fmt: skip
    active = LiveHandover(handover(id="h2", state=HandoverState.ACTIVE), cast(MiawClient, None), _token(T0 + 1000))
    engine = _Engine([queued, active])
    dog = Watchdog(cast(HandoverEngine, engine), POLICY, clock=lambda: now[0])
    for tick in range(5):
        now[0] = T0 + tick * 0.5
        await dog.check_once()
    assert asked == ["h1", "h2"]
    # The queue limit's time comes for h1 (T0 + 300): asked, and again after the stored record was read;
    # h2's warning is still 640 s away.
    now[0] = T0 + 300
    await dog.check_once()
    assert asked == ["h1", "h2", "h1", "h1"]
    assert engine.applied == [("h1", machine.EndRequested("error", "queue_timeout", close_conversation=True))]


async def test_a_replaced_record_or_token_is_asked_about_again(asked: list[str]) -> None:
    live = LiveHandover(handover(id="h1", state=HandoverState.ACTIVE), cast(MiawClient, None), _token(T0 + 3600))
    engine = _Engine([live])
    dog = Watchdog(cast(HandoverEngine, engine), POLICY, clock=lambda: T0)
    await dog.check_once()
    await dog.check_once()
    assert asked == ["h1"]
    live.record = dataclasses.replace(live.record, state=HandoverState.QUEUED, queued_at=T0)  # a transfer
    await dog.check_once()
    await dog.check_once()
    assert asked == ["h1", "h1"]
    live.token = _token(T0 + 7200)  # renewed
    await dog.check_once()
    await dog.check_once()
    assert asked == ["h1", "h1", "h1"]
    live.warned_for = T0 + 7200
    await dog.check_once()
    assert asked == ["h1", "h1", "h1", "h1"]
    assert engine.applied == []
