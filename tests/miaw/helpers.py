"""Test helpers: a settable clock and a recorder of stream callbacks that tests can wait on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from handover_miaw.miaw import AccessToken, MessageEvent, MiawEvent, StreamState, StreamStatus

WAIT = 5.0


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_732_500_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Collects what a stream reports; `wait_for` blocks until a condition on it holds."""

    def __init__(self) -> None:
        self.events: list[MiawEvent] = []
        self.states: list[StreamStatus] = []
        self.tokens: list[AccessToken] = []
        self._changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def on_event(self, event: MiawEvent) -> None:
        self.events.append(event)
        await self._notify()

    async def on_state(self, status: StreamStatus) -> None:
        self.states.append(status)
        await self._notify()

    async def on_token(self, token: AccessToken) -> None:
        self.tokens.append(token)
        await self._notify()

    async def wait_for(self, predicate: Callable[[], bool], within: float = WAIT) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    def texts(self, role: str = "Agent") -> list[str | None]:
        """Texts of the messages from `role`, in delivery order."""
        return [e.text for e in self.events if isinstance(e, MessageEvent) and e.sender_role == role]

    def count(self, state: StreamState) -> int:
        """How many times the stream reported `state`."""
        return sum(1 for s in self.states if s.state is state)
