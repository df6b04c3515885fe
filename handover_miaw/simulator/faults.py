"""Fault injection plan: what the simulator should break next, per endpoint or per stream."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .state import SimulatorError

__all__ = ["ENDPOINTS", "FaultPlan", "Hold", "HttpFailure"]

ENDPOINTS: frozenset[str] = frozenset(
    {
        "access_token",
        "authenticated_access_token",
        "continuation_token",
        "revoke_token",
        "create_conversation",
        "routing_status",
        "list_conversations",
        "close_conversation",
        "end_session",
        "send_message",
        "send_entry",
        "send_file",
        "acknowledge",
        "list_entries",
        "transcript",
        "config",
        "business_hours",
        "sse",
    }
)
"""Names the contract gives the MIAW endpoints (route names in the app, keys in the call log)."""


@dataclass
class HttpFailure:
    """Answer ``status`` to the next ``remaining`` calls of an endpoint."""

    status: int
    remaining: int
    retry_after: int | None


@dataclass
class Hold:
    """Calls of one endpoint kept waiting until released: a test catches a call in flight this way, and does
    what another process would do meanwhile (no HTTP control: it is meant for an in-process simulator)."""

    arrived: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self) -> None:
        """Count the call and wait for the release."""
        self.arrived += 1
        await self._released.wait()

    def release(self) -> None:
        """Let every held call, and every later one, go on."""
        self._released.set()


@dataclass
class FaultPlan:
    """Mutable set of active faults; the app consults it on every call and every event."""

    http: dict[str, HttpFailure] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    drop_every_n_events: int | None = None
    duplicate_remaining: int = 0
    heartbeat_stopped: bool = False
    # Seconds added to the `Date` header of MIAW answers: a server clock that is off.
    date_skew_s: float = 0.0

    @staticmethod
    def check_endpoint(endpoint: str) -> None:
        """Refuse names that no route carries, so a typo cannot silently inject nothing."""
        if endpoint not in ENDPOINTS:
            raise SimulatorError(400, "UNKNOWN_ENDPOINT", f"Unknown endpoint {endpoint!r}.")

    def fail_next(self, endpoint: str, status: int, count: int, retry_after: int | None) -> None:
        """Queue ``count`` failures with ``status``; 429 always carries a Retry-After (1 s by default)."""
        self.check_endpoint(endpoint)
        if not 400 <= status <= 599 or count < 1:
            raise SimulatorError(400, "INVALID_FAULT", "status must be 4xx/5xx and count >= 1.")
        if status == 429 and retry_after is None:
            retry_after = 1
        self.http[endpoint] = HttpFailure(status, count, retry_after)

    def take_failure(self, endpoint: str) -> HttpFailure | None:
        """Consume one queued failure for ``endpoint``, if any."""
        failure = self.http.get(endpoint)
        if failure is None:
            return None
        failure.remaining -= 1
        if failure.remaining <= 0:
            del self.http[endpoint]
        return failure

    def add_latency(self, endpoint: str, seconds: float) -> None:
        """Delay every call of ``endpoint`` by ``seconds`` (0 removes the delay)."""
        self.check_endpoint(endpoint)
        if seconds < 0:
            raise SimulatorError(400, "INVALID_FAULT", "seconds must be >= 0.")
        if seconds == 0:
            self.latency_s.pop(endpoint, None)
        else:
            self.latency_s[endpoint] = seconds

    def hold(self, endpoint: str) -> Hold:
        """Keep the calls of ``endpoint`` waiting until the returned hold is released."""
        self.check_endpoint(endpoint)
        if (previous := self.holds.get(endpoint)) is not None:
            previous.release()
        self.holds[endpoint] = hold = Hold()
        return hold

    def release_holds(self) -> None:
        """Let every held call go on, and hold no more."""
        for hold in self.holds.values():
            hold.release()
        self.holds.clear()

    def take_duplicate(self) -> bool:
        """True if the event being published must be emitted twice."""
        if self.duplicate_remaining <= 0:
            return False
        self.duplicate_remaining -= 1
        return True
