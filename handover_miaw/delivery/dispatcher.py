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
from collections import Counter
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
# Due heads started per pass, and the most read in one query (the extra room is for handovers whose
# attempts are running or held back, which the oldest-first query returns first).
_DUE_LIMIT = 100
_MAX_DUE_LIMIT = 5000
# Attempts of one connector running at once: the delivery session's connections to one host (guard.py), so no
# attempt waits for a connection on its own clock, and a receiver that hangs leaves the others theirs.
_CONNECTOR_ATTEMPTS = 128
# What is read of a receiver's answer, and for how long (its body is not used; reading it lets the
# connection be reused).
_MAX_ANSWER_BYTES = 64 * 1024
_ANSWER_BODY_S = 2.0


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
    # How long a pass waits for its attempts before the loop goes on without the slow ones.
    pass_wait_s: float = 0.25
    # The attempts running, by handover (at most one each: a handover's deliveries go in order).
    _flying: dict[str, tuple[Delivery, asyncio.Task[float | None]]] = field(default_factory=dict)
    # The attempts the current pass waits for (their end needs no wake-up).
    _awaited: set[asyncio.Task[float | None]] = field(default_factory=set)
    # When the due list may be read again while attempts run, and the read put off till then (monotonic time).
    _next_query: float = 0.0
    _put_off: float | None = None
    # Due heads whose outbox another process held, in the last read.
    _elsewhere: int = 0

    async def run(self) -> None:
        """Deliver forever: start the due heads, then wait for news, an attempt that ended, the next poll or a
        backoff. Attempts still running when the loop is stopped are cancelled with it."""
        failures = 0
        try:
            while True:
                try:
                    delivered = await self._pass(self.pass_wait_s)
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
                    # Till the due list may be read again when a read was put off, else till news or a poll.
                    wait = self.idle_poll_s if self._put_off is None else max(self._put_off - time.monotonic(), 0.0)
                    self._put_off = None
                    await self.signal.wait(wait)
        finally:
            running = [task for _, task in self._flying.values()]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)  # their outcomes retrieved, none reported

    async def drain_once(self) -> int:
        """Attempt every due head-of-line delivery once and settle every outcome; return how many were
        attempted."""
        return await self._pass(None)

    async def _pass(self, wait_s: float | None) -> int:
        """Start an attempt for each due head whose handover has none running, wait for them up to `wait_s`
        (None: all), and settle every attempt that has ended. One receiver that answers slowly or never
        held every pass, and with it every other connector's deliveries, to its request timeout; those
        attempts now go on while later passes serve the others. Returns how many were started."""
        now = time.monotonic()
        if wait_s is not None and self._flying and now < self._next_query:
            # Only attempts that ran late ended since the last read (a receiver hanging for many handovers
            # ended one a moment, and each read the due list again): settled now, the list read at most
            # once a pass interval.
            self._put_off = self._next_query
            await self._settle()
            return 0
        self._next_query = now + self.pass_wait_s
        # The due heads come oldest first: room for those of the handovers whose attempts are running here,
        # are held back, or were another process's last time (their outboxes came first, for good).
        limit = min(_DUE_LIMIT + len(self._flying) + len(self._holds) + self._elsewhere, _MAX_DUE_LIMIT)
        due = await self.store.due_deliveries(self.clock(), limit)
        running = Counter(delivery.connector for delivery, _ in self._flying.values())
        mine: list[Delivery] = []
        self._elsewhere = 0
        for delivery in due:
            if len(mine) == _DUE_LIMIT:
                break
            if delivery.handover_id in self._flying or self._holds.get(delivery.id, (0.0, 0))[0] > now:
                continue
            if running[delivery.connector] >= _CONNECTOR_ATTEMPTS:
                continue  # a connector whose receiver hangs takes no more than its share of the connections
            # The holder keeps a handover's outbox while it drains it (every attempt renews the lease); a dead
            # holder's lease lapses and another process picks the outbox up. An attempt slower than the TTL
            # may be repeated by the next holder: at least once, and the delivery id lets the receiver drop it.
            if await self._hold_outbox(delivery.handover_id):
                mine.append(delivery)
                running[delivery.connector] += 1
            else:
                self._elsewhere += 1
        connectors = await self._connectors(mine)
        started = []
        for delivery in mine:
            task = asyncio.get_running_loop().create_task(self._attempt(delivery, connectors[delivery.connector]))
            task.add_done_callback(self._ended)
            self._flying[delivery.handover_id] = (delivery, task)
            started.append(task)
        if started:
            self._awaited = set(started)
            try:
                await asyncio.wait(started, timeout=wait_s)
            finally:
                self._awaited = set()
        await self._settle()
        return len(mine)

    def _ended(self, task: asyncio.Task[float | None]) -> None:
        """An attempt the pass that started it stopped waiting for ended: wake the loop to settle it."""
        if task not in self._awaited:
            self.signal.poke()

    async def _settle(self) -> None:
        """Record the outcome of every attempt that ended: the acknowledged ones marked in one write."""
        acknowledged: list[tuple[Delivery, float]] = []
        for handover_id, (delivery, task) in list(self._flying.items()):
            if not task.done():
                continue
            del self._flying[handover_id]
            if task.cancelled():
                continue
            outcome = task.exception()
            if isinstance(outcome, Exception):
                self._hold_back(delivery, outcome)
            elif outcome is not None:
                raise outcome
            elif (acknowledged_at := task.result()) is not None:
                acknowledged.append((delivery, acknowledged_at))
            else:
                self._holds.pop(delivery.id, None)
        await self._delivered(acknowledged)

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
                status, retry_after = response.status, response.headers.get("Retry-After")
                self.metrics.delivery_attempt(f"{status // 100}xx", time.perf_counter() - started)
                await _drain(response)
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


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what a receiver answered after its status line, for the connection to be reused; its body is not
    used, so the status decides the outcome whatever happens here. Read whole, a 400 MB answer took 820 MB
    of the runtime's memory; past _MAX_ANSWER_BYTES, _ANSWER_BODY_S, or a broken body, the rest is left and
    the connection closed. Read before the status was taken, a 200 whose body trickled or broke counted as a
    failed attempt: the delivery was posted again and again, then dead-lettered."""
    limit = _MAX_ANSWER_BYTES
    try:
        async with asyncio.timeout(_ANSWER_BODY_S):
            while limit > 0 and (chunk := await response.content.read(min(limit, 65536))):
                limit -= len(chunk)
    except (TimeoutError, aiohttp.ClientError):
        response.close()
