"""The watchdog: feeds time-driven inputs (token expiry, queue limit) to every live handover.

One loop for all handovers rather than a timer each: its decisions (`timers.due`) read only the stored
record and the token, so they come out the same after a restart, with nothing to re-arm. The application
owns the task (`run`) and cancels it at shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from handover_miaw.handovers import machine
from handover_miaw.handovers.engine import HandoverEngine
from handover_miaw.handovers.live import Quiet
from handover_miaw.handovers.timers import TimerPolicy, due, next_due

__all__ = ["Watchdog"]

log = structlog.get_logger(__name__)


class Watchdog:
    """Warns about expiring tokens and ends expired or over-long-queued handovers."""

    def __init__(
        self,
        engine: HandoverEngine,
        policy: TimerPolicy,
        *,
        interval_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._policy = policy  # fixed: the verdicts kept on each handover (LiveHandover.quiet) assume it
        self.interval_s = interval_s
        self.clock = clock

    async def run(self) -> None:
        """Check every live handover, forever, every `interval_s`."""
        while True:
            await self.check_once()
            await asyncio.sleep(self.interval_s)

    async def check_once(self) -> int:
        """Apply every input that is due now; return how many were applied."""
        applied = 0
        for live in self._engine.served():
            now = self.clock()
            quiet = live.quiet
            if (
                quiet is not None
                and now < quiet.until
                and quiet.record is live.record
                and quiet.token is live.token
                and quiet.warned_for == live.warned_for
            ):
                continue  # nothing can be due yet (timers.next_due) and nothing it was decided on changed
            event = due(live.record, live.token.expires_at, live.warned_for, now, self._policy)
            if event is None:
                until = next_due(live.record, live.token.expires_at, live.warned_for, self._policy)
                live.quiet = Quiet(live.record, live.token, live.warned_for, until)
                continue
            try:
                # Decided again on what is stored: a token renewed through another process moves the expiry.
                await self._engine.refresh(live)
                event = due(live.record, live.token.expires_at, live.warned_for, now, self._policy)
                if event is None:
                    continue
                await self._engine.apply(live.record.id, event, entry_id=None)
            except Exception:
                # One handover's failure (a store hiccup) must not stop the others' timers; next tick retries.
                log.exception("handover.timer_failed", handover_id=live.record.id, input=type(event).__name__)
                continue
            if isinstance(event, machine.TokenExpiring):
                live.warned_for = event.expires_at
            applied += 1
        return applied
