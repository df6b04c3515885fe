"""Pure retry and reconnect policy.

`decide()` is a table: (what went wrong, which attempt, Retry-After) -> (retry?, how long). The client
consults it; nothing here sleeps or does I/O, so each row is a unit test.

| outcome                     | retried?              | delay                                          |
|-----------------------------|-----------------------|------------------------------------------------|
| 429                         | while attempts remain | Retry-After (seconds or HTTP date), capped;    |
|                             |                       | jittered backoff when absent or unreadable     |
| 5xx                         | while attempts remain | jittered exponential backoff, capped           |
| timeout / connection error  | while attempts remain | jittered exponential backoff, capped           |
| any other status (4xx, 3xx) | never                 | -                                              |

`reconnect_delay()` is the stream's backoff: it never gives up (the stream ends on cancellation or an
expired token, not on a count), grows by a factor per consecutive failure and is capped.

Both schedules are `handover_miaw.backoff.Backoff` (capped exponential, equal jitter), the one the outbox
uses; each policy keeps its own figures. That module is the one import this package takes from the rest of
handover_miaw: it is pure and stdlib-only, so the client stays liftable with one extra file. A copy here
would let the two schedules drift apart, and moving the schedule into miaw/ would make the outbox depend on
the MIAW client for a formula that is not about MIAW (tests/miaw/test_self_contained.py holds the line).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from handover_miaw.backoff import Backoff
from handover_miaw.digits import ascii_digits

__all__ = [
    "DEFAULT_RECONNECT_POLICY",
    "DEFAULT_RETRY_POLICY",
    "FailureKind",
    "ReconnectPolicy",
    "RetryDecision",
    "RetryPolicy",
    "decide",
    "parse_retry_after",
    "rate_limited_delay",
    "reconnect_delay",
]

# A random source returning floats in [0, 1); injectable so tests pin the jitter.
RandomSource = Callable[[], float]


class FailureKind(enum.Enum):
    """Failures without an HTTP status."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for request retries; `max_attempts` counts the first try."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    @property
    def backoff(self) -> Backoff:
        """The delay schedule between attempts: doubling from `base_delay`, capped at `max_delay`."""
        return Backoff(base=self.base_delay, factor=2.0, cap=self.max_delay)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Stream reconnect backoff: initial * factor**(failures-1), capped at max_delay, jittered."""

    initial_delay: float = 1.0
    factor: float = 1.5
    max_delay: float = 30.0

    @property
    def backoff(self) -> Backoff:
        """The delay schedule between reconnects."""
        return Backoff(base=self.initial_delay, factor=self.factor, cap=self.max_delay)


DEFAULT_RETRY_POLICY = RetryPolicy()
# The sample app's figures: 1 s x 1.5^n, at most 30 s.
DEFAULT_RECONNECT_POLICY = ReconnectPolicy()


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again, after how many seconds, and why (for the log line)."""

    retry: bool
    delay: float
    reason: str


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), None if unreadable.

    `now` is epoch seconds; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if ascii_digits(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            # RFC 9110 dates are GMT; a naive result means the zone was "-0000" or missing.
            return None
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, OverflowError):
        # A field too large for a date (`00:00:99999999999999999999`) overflows: it escaped, and a delivery
        # answered so was held back for good, never recorded nor dead-lettered.
        return None


def rate_limited_delay(retry_after: str | None, now: float, backoff_delay: float, cap: float) -> float:
    """Seconds to wait after a 429: what Retry-After asks, at most `cap` and never less than `backoff_delay`
    (`Retry-After: 0`, or a date in the past, retried at once: every attempt of a MIAW call spent in
    milliseconds, one delivery posted 5,705 times in 5 seconds); the backoff when it is unreadable."""
    wait = parse_retry_after(retry_after, now)
    return backoff_delay if wait is None else max(backoff_delay, min(wait, cap))


def decide(
    outcome: int | FailureKind,
    attempt: int,
    retry_after: str | None = None,
    *,
    now: float = 0.0,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    rand: RandomSource = random.random,
) -> RetryDecision:
    """Decide about a retry after attempt number `attempt` (1 = first try) failed with `outcome`.

    `outcome` is an HTTP status or a FailureKind; `now` (epoch seconds) only matters for an HTTP-date
    Retry-After.
    """
    if isinstance(outcome, FailureKind):
        reason = outcome.value
    elif outcome == 429:
        reason = "rate_limited"
    elif 500 <= outcome <= 599:
        reason = f"status_{outcome}"
    else:
        # Any other answer is final: repeating a 4xx changes nothing and could repeat a side effect.
        return RetryDecision(retry=False, delay=0.0, reason=f"status_{outcome}_final")
    if attempt >= policy.max_attempts:
        return RetryDecision(retry=False, delay=0.0, reason=f"{reason}_attempts_exhausted")
    delay = policy.backoff.delay(attempt, rand)
    if outcome == 429:
        delay = rate_limited_delay(retry_after, now, delay, policy.max_retry_after)
    return RetryDecision(retry=True, delay=delay, reason=reason)


def reconnect_delay(
    failures: int,
    policy: ReconnectPolicy = DEFAULT_RECONNECT_POLICY,
    rand: RandomSource = random.random,
) -> float:
    """Seconds to wait before reconnect number `failures` in a row (>= 1); 0 failures means no wait."""
    return policy.backoff.delay(failures, rand)
