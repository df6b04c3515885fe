"""Drain the outbox to the bot platform: in order per handover, at least once, with backoff.

The store hands out only the oldest pending delivery of each handover (head of line), so a later delivery
never overtakes an earlier one; handovers are served concurrently. Every failed attempt, whatever failed
(an HTTP status, no answer, or anything raised on the way), is retried with capped, jittered exponential
backoff (Retry-After honoured on 429; see outcomes.py); a delivery still failing past the horizon, or
refused with a final 4xx, goes to the dead-letter state, visible and re-drivable through the API.

When the store cannot record an outcome, the delivery is held back in memory with the same backoff (the
store still says it is due): nothing is ever attempted again at once, so a fault cannot make a loop spin.
A delivery the receiver acknowledged but the store could not mark is not posted again while this process
remembers it; only its outcome is written again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import structlog

from handover_miaw.backoff import Backoff
from handover_miaw.delivery.formats import build_request
from handover_miaw.delivery.outbox import OutboxSignal
from handover_miaw.delivery.outcomes import DELIVERY_BACKOFF, judge
from handover_miaw.delivery.targets import TargetPolicy
from handover_miaw.logs import secrets
from handover_miaw.metrics import Metrics
from handover_miaw.store.base import Store
from handover_miaw.store.leases import Leases, LocalLeases
from handover_miaw.store.records import ConnectorRecord, Delivery
from handover_miaw.throttle import LogThrottle

__all__ = ["Dispatcher", "describe_error"]

log = structlog.get_logger(__name__)
_level = logging.getLogger(__name__)  # the level structlog's filter_by_level reads

# Stored as lastError and shown by GET /v1/deliveries: long enough to name the fault, never a body dump.
_MAX_ERROR_CHARS = 200
# What is read of a receiver's answer (its body is not used; reading it lets the connection be reused).
_MAX_ANSWER_BYTES = 64 * 1024


def describe_error(exc: BaseException) -> str:
    """An exception as `Class: message`, secrets redacted and cut short, for a log line or lastError."""
    text = secrets.scrub_text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return " ".join(text.split())[:_MAX_ERROR_CHARS]


@dataclass
class Dispatcher:
    """The outbox drain loop; `run` is owned and cancelled by the application."""

    store: Store
    session: aiohttp.ClientSession
    metrics: Metrics
    signal: OutboxSignal
    horizon_s: float = 3600.0
    request_timeout_s: float = 10.0
    idle_poll_s: float = 0.5
    backoff: Backoff = DELIVERY_BACKOFF
    clock: Callable[[], float] = time.time
    # With several processes on one store, a handover's outbox is drained by whoever holds its outbox lease.
    leases: Leases = field(default_factory=LocalLeases)
    owner: str = "local"
    lease_ttl_s: float = 15.0
    throttle: LogThrottle = field(default_factory=LogThrottle)
    # The session's resolver checks the addresses of names; a URL holding an address is checked here.
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    # A pass's connector reads, shared by its attempts (they start together: each read its own before).
    _held: dict[str, float] = field(default_factory=dict)
    # Deliveries whose outcome the store refused: id -> (not before, in monotonic time; failures in a row).
    _holds: dict[str, tuple[float, int]] = field(default_factory=dict)
    # Deliveries the receiver acknowledged that the store has not yet marked: id -> when acknowledged.
    _acknowledged: dict[str, float] = field(default_factory=dict)

    async def run(self) -> None:
        """Deliver forever: one batch of due heads, then wait for news, the next poll or a backoff."""
        failures = 0
        while True:
            try:
                delivered = await self.drain_once()
                failures = 0
            except Exception as exc:
                # A store that is unreachable or saturated (a Redis pool wait past its limit) must not end
                # the loop: it once did, and nothing was delivered again by that process. What was not
                # settled stays pending in the store and is attempted on a later pass, after a backoff.
                failures += 1
                if (suppressed := self.throttle.admit("drain", time.monotonic())) is not None:
                    log.error("delivery.drain_failed", error=describe_error(exc), suppressed=suppressed)
                await asyncio.sleep(self.backoff.delay(failures))
                continue
            if not delivered:
                await self.signal.wait(self.idle_poll_s)

    async def drain_once(self) -> int:
        """Attempt every due head-of-line delivery once; return how many were attempted."""
        due = await self.store.due_deliveries(self.clock())
        now = time.monotonic()
        due = [d for d in due if self._holds.get(d.id, (0.0, 0))[0] <= now]
        if not due:
            return 0
        # The holder keeps a handover's outbox while it drains it (every attempt renews the lease); a dead
        # holder's lease lapses and another process picks the outbox up. An attempt slower than the TTL may
        # be repeated by the next holder: at least once, and the delivery id lets the receiver drop it.
        mine = [d for d in due if await self._hold_outbox(d.handover_id)]
        connectors = await self._connectors(mine)
        outcomes = await asyncio.gather(
            *(self._attempt(d, connectors[d.connector]) for d in mine), return_exceptions=True
        )
        acknowledged: list[tuple[Delivery, float]] = []
        for delivery, outcome in zip(mine, outcomes, strict=True):
            if isinstance(outcome, Exception):
                self._hold_back(delivery, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome is not None:
                acknowledged.append((delivery, outcome))
            else:
                self._holds.pop(delivery.id, None)
        await self._delivered(acknowledged)
        return len(mine)

    def _hold_back(self, delivery: Delivery, exc: Exception) -> None:
        """The store refused the attempt's outcome: the delivery stays pending there, so keep it back here
        for a backoff (it would be due again at once, and a store refusing writes made this spin)."""
        _, failures = self._holds.get(delivery.id, (0.0, 0))
        delay = self.backoff.delay(failures + 1)
        self._holds[delivery.id] = (time.monotonic() + delay, failures + 1)
        if len(self._holds) > 4096:
            now = time.monotonic()
            self._holds = {k: v for k, v in self._holds.items() if v[0] > now - self.backoff.cap}
        if (suppressed := self.throttle.admit(delivery.id, time.monotonic())) is not None:
            log.error(
                "delivery.outcome_not_stored",
                delivery_id=delivery.id,
                handover_id=delivery.handover_id,
                error=describe_error(exc),
                delay_s=round(delay, 3),
                suppressed=suppressed,
            )

    async def _hold_outbox(self, handover_id: str) -> bool:
        # Renew only past half the TTL: a lease call per delivery cost a Redis round trip each, and those
        # round trips held back fan-in on the Redis store.
        now = time.monotonic()
        if len(self._held) > 4096:
            self._held = {k: until for k, until in self._held.items() if until > now}
        if self._held.get(handover_id, 0.0) - now > self.lease_ttl_s / 2:
            return True
        if await self.leases.acquire(f"outbox:{handover_id}", self.owner, self.lease_ttl_s):
            self._held[handover_id] = now + self.lease_ttl_s
            return True
        self._held.pop(handover_id, None)
        return False

    async def _connectors(self, deliveries: list[Delivery]) -> dict[str, ConnectorRecord | Exception | None]:
        """Each connector of a pass read once, before its attempts run: read per attempt, a pass of 100
        deliveries read it 100 times, a Redis round trip each. A failed read is that connector's attempts'
        outcome (they are held back)."""
        connectors: dict[str, ConnectorRecord | Exception | None] = {}
        for name in dict.fromkeys(d.connector for d in deliveries):
            try:
                connectors[name] = await self.store.get_connector(name)
            except Exception as exc:
                connectors[name] = exc
        return connectors

    async def _attempt(self, delivery: Delivery, connector: ConnectorRecord | Exception | None) -> float | None:
        """One attempt; when the receiver acknowledged it (now or on an earlier pass), that time, for it to
        be marked with the pass's others. Raises only when the store fails (reading the connector,
        recording a failure)."""
        acknowledged = self._acknowledged.get(delivery.id)
        if acknowledged is not None:
            return acknowledged
        if isinstance(connector, Exception):
            raise connector
        if connector is None:
            await self._fail(delivery, None, None, "connector no longer exists", final=True)
            return None
        now = self.clock()
        status: int | None = None
        retry_after: str | None = None
        try:
            request = build_request(connector.delivery, delivery.payload, int(now))
        except Exception as exc:  # a connector stored before its fields were checked as they are now
            await self._fail(delivery, None, None, describe_error(exc))
            return None
        if request is None:  # pull format: the SSE endpoint serves it from the store
            await self.store.mark_delivered(delivery.id, now)
            return None
        refused = self.policy.url_problem(request.url)
        if refused is not None:  # a connector stored before the rule, or under development mode
            await self._fail(delivery, None, None, f"delivery URL refused: it {refused}", final=True)
            return None
        started = time.perf_counter()
        try:
            async with self.session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout_s),
            ) as response:
                await _drain(response.content, _MAX_ANSWER_BYTES)
                status, retry_after = response.status, response.headers.get("Retry-After")
                self.metrics.delivery_attempt(f"{status // 100}xx", time.perf_counter() - started)
        except TimeoutError:
            self.metrics.delivery_attempt("timeout", time.perf_counter() - started)
            error = "timeout"
        except Exception as exc:  # whatever raised, it is a failed attempt with backoff
            # Not only aiohttp's errors: a header value aiohttp refuses raised ValueError on every attempt,
            # and the delivery was posted again at once, in a tight loop.
            self.metrics.delivery_attempt("connection", time.perf_counter() - started)
            error = describe_error(exc)
        else:
            if 200 <= status < 300:
                if len(self._acknowledged) > 4096:  # forgetting only costs a repeat post (same delivery id)
                    self._acknowledged.clear()
                self._acknowledged[delivery.id] = acknowledged = self.clock()
                return acknowledged
            error = f"HTTP {status}"
        await self._fail(delivery, status, retry_after, error)
        return None

    async def _delivered(self, acknowledged: list[tuple[Delivery, float]]) -> None:
        """Mark a pass's acknowledged deliveries in one store write (one per delivery cost a round trip each);
        when the store refuses it, each is held back and remembered, so none is posted again."""
        if not acknowledged:
            return
        try:
            await self.store.mark_delivered_many([(delivery.id, at) for delivery, at in acknowledged])
        except Exception as exc:
            for delivery, at in acknowledged:
                self._acknowledged[delivery.id] = at  # kept even if the map was cleared meanwhile
                self._hold_back(delivery, exc)
            return
        for delivery, at in acknowledged:
            self._acknowledged.pop(delivery.id, None)
            self._holds.pop(delivery.id, None)
            self.throttle.forget(delivery.id)
            self.metrics.deliveries.labels("delivered").inc()
            self.metrics.delivery_lag(delivery.type, at - delivery.created_at)
            if _level.isEnabledFor(logging.DEBUG):  # structlog binds and filters per call: 2% of fan-in's CPU
                log.debug("delivery.delivered", delivery_id=delivery.id, handover_id=delivery.handover_id)

    async def _fail(
        self,
        delivery: Delivery,
        status: int | None,
        retry_after: str | None,
        error: str,
        *,
        final: bool = False,
    ) -> None:
        now = self.clock()
        deadline = delivery.created_at + self.horizon_s
        verdict = None if final else judge(status, delivery.attempts + 1, retry_after, now=now, deadline=deadline,
                                           backoff=self.backoff)  # fmt: skip
        if verdict is None or not verdict.retry:
            await self.store.mark_dead(delivery.id, error)
            self.throttle.forget(delivery.id)
            self.metrics.deliveries.labels("dead").inc()
            log.warning(
                "delivery.dead_lettered", delivery_id=delivery.id, handover_id=delivery.handover_id, error=error
            )
            return
        await self.store.mark_retry(delivery.id, now + verdict.delay, error)
        self.metrics.deliveries.labels("retry").inc()
        if (suppressed := self.throttle.admit(delivery.id, time.monotonic())) is not None:
            log.info(
                "delivery.retry_scheduled",
                delivery_id=delivery.id,
                handover_id=delivery.handover_id,
                error=error,
                attempts=delivery.attempts + 1,
                delay_s=round(verdict.delay, 3),
                suppressed=suppressed,
            )


async def _drain(content: aiohttp.StreamReader, limit: int) -> None:
    """Read a receiver's answer up to `limit` bytes, for the connection to be reused. Read whole, a 400 MB
    answer took 820 MB of the runtime's memory, and an endless one held the attempt to its timeout; past the
    limit the rest is left unread, and aiohttp closes that connection instead of reusing it."""
    while limit > 0 and (chunk := await content.read(min(limit, 65536))):
        limit -= len(chunk)
