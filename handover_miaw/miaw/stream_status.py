"""What an event stream reports (state changes) and remembers (delivered entry ids). Pure."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import MiawAuthError, MiawError, MiawRateLimitedError, MiawResponseError, MiawServerError

__all__ = ["SeenIds", "StreamState", "StreamStatus", "announces_expiry", "describe_error", "final_state"]


class StreamState(enum.Enum):
    """Lifecycle of a stream; the last three are final."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a state name, not a secret
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A state change: for RECONNECTING the failure count and delay; the error that caused it, if any."""

    state: StreamState
    failures: int = 0
    delay: float = 0.0
    error: BaseException | None = None

    @property
    def final(self) -> bool:
        """True for TOKEN_EXPIRED, FAILED and CLOSED."""
        return self.state in (StreamState.TOKEN_EXPIRED, StreamState.FAILED, StreamState.CLOSED)


class SeenIds:
    """Entry ids already delivered, bounded: the oldest are forgotten first."""

    def __init__(self, capacity: int, initial: Iterable[str] = ()) -> None:
        self._capacity = capacity
        self._ids: dict[str, None] = {}
        for entry_id in initial:
            self.add(entry_id)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, entry_id: str) -> None:
        """Remember `entry_id`, forgetting the oldest one when full."""
        self._ids[entry_id] = None
        if len(self._ids) > self._capacity:
            del self._ids[next(iter(self._ids))]

    def snapshot(self) -> tuple[str, ...]:
        """The remembered ids, oldest first (for the owner to persist)."""
        return tuple(self._ids)


def final_state(outcome: Exception | None) -> StreamState | None:
    """The final state a connection outcome leads to; None means reconnect."""
    if isinstance(outcome, MiawAuthError):
        # Expired, rejected right after a renewal, or the renewal itself was refused.
        return StreamState.TOKEN_EXPIRED
    if outcome is None or isinstance(outcome, MiawServerError | MiawRateLimitedError):
        return None
    if isinstance(outcome, MiawResponseError):
        # 400, 403, 404, ...: asking again will not change the answer.
        return StreamState.FAILED
    if isinstance(outcome, MiawError):
        return None  # transport failure, stall, unreadable answer
    return StreamState.FAILED  # an owner callback failed, or a bug


def announces_expiry(data: str) -> bool:
    """True for the raw text event MIAW sends before it ends a stream whose token expired."""
    return "jwt is expired" in data.lower()


def describe_error(error: BaseException | None) -> str | None:
    """The error as a log field: MIAW errors' str() carries the redacted detail, their repr() only the message."""
    return None if error is None else f"{type(error).__name__}: {error}"
