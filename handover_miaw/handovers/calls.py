"""A bounded, in-process record of each handover's MIAW calls, for the operations timeline.

The MIAW client is shared by a connector's handovers and knows none of them; a call is attributed to the
handover whose work runs it through a context variable (`for_handover`), set where that work runs (a start,
a state-machine step, the stream's task, a user request), so no layer between needs a new parameter.
Only the endpoint's name, the outcome, the duration and the time are kept: never a token or a body.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from handover_miaw.miaw import CallObserver

__all__ = ["Call", "CallLog", "for_handover"]

_current: ContextVar[str | None] = ContextVar("handover_miaw_call_handover", default=None)

PER_HANDOVER = 200
"""Calls kept per handover (the newest)."""
MAX_HANDOVERS = 2000
"""Handovers kept at most (the least recently called forgotten first): at most 400,000 small records."""
FORGET_AFTER_END_S = 600.0
"""How long an ended handover's calls stay readable."""


class for_handover:  # lowercase, as contextlib.suppress: it reads as a function at its uses
    """Attribute the MIAW calls made inside (and by tasks created inside) to `handover_id`.

    A class rather than @contextmanager: it wraps every relayed message and every handled event, where a
    generator-based manager cost a few µs each."""

    __slots__ = ("_handover_id", "_token")

    def __init__(self, handover_id: str) -> None:
        self._handover_id = handover_id

    def __enter__(self) -> None:
        self._token = _current.set(self._handover_id)

    def __exit__(self, *_exc: object) -> None:
        _current.reset(self._token)


@dataclass(frozen=True, slots=True)
class Call:
    """One MIAW HTTP attempt: endpoint name, status code or failure class, seconds taken, wall-clock end."""

    endpoint: str
    outcome: str
    seconds: float
    at: float


class CallLog:
    """The newest MIAW calls of the handovers this process served recently."""

    def __init__(self, clock: Callable[[], float] = time.time, then: CallObserver | None = None) -> None:
        self._calls: OrderedDict[str, deque[Call]] = OrderedDict()
        self._forget_at: dict[str, float] = {}
        self._clock = clock
        self._then = then

    def observe(self, endpoint: str, outcome: str, seconds: float) -> None:
        """A `CallObserver`: records the call for the current handover, then tells `then` (metrics)."""
        if self._then is not None:
            self._then(endpoint, outcome, seconds)
        handover_id = _current.get()
        if handover_id is not None:
            self.record(handover_id, Call(endpoint, outcome, seconds, self._clock()))

    def record(self, handover_id: str, call: Call) -> None:
        """Keep one call of a handover."""
        calls = self._calls.get(handover_id)
        if calls is None:
            self._purge()
            calls = self._calls[handover_id] = deque(maxlen=PER_HANDOVER)
            while len(self._calls) > MAX_HANDOVERS:
                forgotten, _ = self._calls.popitem(last=False)
                self._forget_at.pop(forgotten, None)
        else:
            self._calls.move_to_end(handover_id)
        calls.append(call)

    def calls(self, handover_id: str) -> list[Call]:
        """A handover's recorded calls, oldest first (empty when none were made here or they were forgotten)."""
        self._purge()
        return list(self._calls.get(handover_id, ()))

    def ended(self, handover_id: str) -> None:
        """The handover ended: its calls are forgotten a while later."""
        if handover_id in self._calls:
            self._forget_at.setdefault(handover_id, self._clock() + FORGET_AFTER_END_S)

    def _purge(self) -> None:
        if not self._forget_at:
            return
        now = self._clock()
        for handover_id in [h for h, at in self._forget_at.items() if at <= now]:
            del self._forget_at[handover_id]
            self._calls.pop(handover_id, None)
