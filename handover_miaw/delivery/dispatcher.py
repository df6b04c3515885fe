"""Drain the outbox to the bot platform: in order per handover, at least once, with backoff.

The store hands out only the oldest pending delivery of each handover (head of line), so a later delivery
never overtakes an earlier one; handovers are served concurrently. A failed attempt is retried with
capped, jittered exponential backoff (Retry-After honoured on 429); a delivery still failing past the
horizon, or refused with a final 4xx, goes to the dead-letter state, visible and re-drivable through the API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import structlog

from handover_miaw.delivery.formats import build_request
from handover_miaw.metrics import Metrics
from handover_miaw.miaw.retry import FailureKind, RetryPolicy, decide
from handover_miaw.store.base import Store
from handover_miaw.store.leases import Leases, LocalLeases
from handover_miaw.store.records import ConnectorRecord, Delivery

__all__ = ["DELIVERY_RETRY_POLICY", "Dispatcher", "OutboxSignal"]

log = structlog.get_logger(__name__)

# Attempts are bounded by the horizon (time), not by a count.
DELIVERY_RETRY_POLICY = RetryPolicy(max_attempts=1_000_000, base_delay=0.25, max_delay=30.0, max_retry_after=300.0)


class OutboxSignal:
    """Wakes the dispatcher and the SSE readers when deliveries are enqueued."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._listeners: dict[str, set[asyncio.Event]] = {}

    def notify(self, handover_id: str) -> None:
        """New deliveries exist for this handover."""
        self._event.set()
        for listener in self._listeners.get(handover_id, ()):
            listener.set()

    async def wait(self, seconds: float) -> None:
        """Wait for a notification or `seconds`, whichever comes first."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return
        finally:
            self._event.clear()

    def listen(self, handover_id: str) -> asyncio.Event:
        """An event set whenever this handover gets deliveries; call `unlisten` when done."""
        event = asyncio.Event()
        self._listeners.setdefault(handover_id, set()).add(event)
        return event

    def unlisten(self, handover_id: str, event: asyncio.Event) -> None:
        """Stop listening."""
        listeners = self._listeners.get(handover_id)
        if listeners is not None:
            listeners.discard(event)
            if not listeners:
                del self._listeners[handover_id]


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
    policy: RetryPolicy = DELIVERY_RETRY_POLICY
    clock: Callable[[], float] = time.time
    # With several processes on one store, a handover's outbox is drained by whoever holds its outbox lease.
    leases: Leases = field(default_factory=LocalLeases)
    owner: str = "local"
    lease_ttl_s: float = 15.0
    _connectors: dict[str, ConnectorRecord] = field(default_factory=dict)
    _held: dict[str, float] = field(default_factory=dict)

    async def run(self) -> None:
        """Deliver forever: one batch of due heads, then wait for news or the next poll."""
        while True:
            try:
                delivered = await self.drain_once()
            except Exception:
                # A store that is unreachable or saturated (a Redis pool wait past its limit) must not end
                # the loop: it once did, and nothing was delivered again by that process. What was not
                # settled stays pending in the store and is attempted on the next pass.
                log.exception("delivery.drain_failed")
                delivered = 0
            if not delivered:
                await self.signal.wait(self.idle_poll_s)

    async def drain_once(self) -> int:
        """Attempt every due head-of-line delivery once; return how many were attempted."""
        due = await self.store.due_deliveries(self.clock())
        if not due:
            return 0
        self._connectors = {}
        # The holder keeps a handover's outbox while it drains it (every attempt renews the lease); a dead
        # holder's lease lapses and another process picks the outbox up. An attempt slower than the TTL may
        # be repeated by the next holder: at least once, and the delivery id lets the receiver drop it.
        mine = [d for d in due if await self._hold_outbox(d.handover_id)]
        outcomes = await asyncio.gather(*(self._attempt(d) for d in mine), return_exceptions=True)
        for delivery, outcome in zip(mine, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # Its outcome was not stored: it is still pending and the next pass attempts it again
                # (at least once; the delivery id lets the receiver drop a repeat).
                log.error("delivery.attempt_failed", delivery_id=delivery.id, exc_info=outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        return len(mine)

    async def _hold_outbox(self, handover_id: str) -> bool:
        # Renew only past half the TTL: a lease call per delivery cost a Redis round trip each, which
        # halved fan-in on the Redis store.
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

    async def _connector(self, name: str) -> ConnectorRecord | None:
        if name not in self._connectors:
            record = await self.store.get_connector(name)
            if record is None:
                return None
            self._connectors[name] = record
        return self._connectors[name]

    async def _attempt(self, delivery: Delivery) -> None:
        connector = await self._connector(delivery.connector)
        if connector is None:
            await self._fail(delivery, None, None, "connector no longer exists", final=True)
            return
        now = self.clock()
        request = build_request(connector.delivery, delivery.payload, int(now))
        if request is None:  # pull format: the SSE endpoint serves it from the store
            await self.store.mark_delivered(delivery.id, now)
            return
        started = time.perf_counter()
        try:
            async with self.session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout_s),
            ) as response:
                await response.read()
                self.metrics.delivery_attempt(f"{response.status // 100}xx", time.perf_counter() - started)
                if 200 <= response.status < 300:
                    delivered_at = self.clock()
                    await self.store.mark_delivered(delivery.id, delivered_at)
                    self.metrics.deliveries.labels("delivered").inc()
                    self.metrics.delivery_lag(delivery.type, delivered_at - delivery.created_at)
                    log.debug("delivery.delivered", delivery_id=delivery.id, handover_id=delivery.handover_id)
                    return
                await self._fail(
                    delivery, response.status, response.headers.get("Retry-After"), f"HTTP {response.status}"
                )
        except TimeoutError:
            self.metrics.delivery_attempt("timeout", time.perf_counter() - started)
            await self._fail(delivery, FailureKind.TIMEOUT, None, "timeout")
        except aiohttp.ClientError as exc:
            self.metrics.delivery_attempt("connection", time.perf_counter() - started)
            await self._fail(delivery, FailureKind.CONNECTION, None, type(exc).__name__)

    async def _fail(
        self,
        delivery: Delivery,
        outcome: int | FailureKind | None,
        retry_after: str | None,
        error: str,
        *,
        final: bool = False,
    ) -> None:
        now = self.clock()
        decision = (
            None
            if final or outcome is None
            else decide(outcome, delivery.attempts + 1, retry_after, now=now, policy=self.policy)
        )
        past_horizon = decision is not None and now + decision.delay > delivery.created_at + self.horizon_s
        if decision is None or not decision.retry or past_horizon:
            await self.store.mark_dead(delivery.id, error)
            self.metrics.deliveries.labels("dead").inc()
            log.warning(
                "delivery.dead_lettered", delivery_id=delivery.id, handover_id=delivery.handover_id, error=error
            )
            return
        await self.store.mark_retry(delivery.id, now + decision.delay, error)
        self.metrics.deliveries.labels("retry").inc()
        log.info(
            "delivery.retry_scheduled",
            delivery_id=delivery.id,
            handover_id=delivery.handover_id,
            error=error,
            delay_s=round(decision.delay, 3),
        )
