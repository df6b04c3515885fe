"""What a delivery attempt's outcome means for the delivery: delivered, retried after a delay, or dead.

Pure: no I/O. The table:

| outcome                                            | verdict                                          |
|----------------------------------------------------|--------------------------------------------------|
| 2xx                                                | delivered                                        |
| 429                                                | retried after Retry-After (capped), at least the |
|                                                    | backoff                                          |
| 408, 425, 5xx, no answer (timeout, refused),       | retried after capped, jittered backoff           |
| anything raised                                    |                                                  |
| any other status (3xx, 4xx)                        | dead: repeating it changes nothing               |
| a retry that would start past the horizon          | dead                                             |
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from handover_miaw.backoff import Backoff
from handover_miaw.miaw.retry import rate_limited_delay

__all__ = ["DELIVERY_BACKOFF", "MAX_RETRY_AFTER_S", "Verdict", "judge"]

DELIVERY_BACKOFF = Backoff(base=0.25, factor=2.0, cap=30.0)
# A receiver may ask for a pause; more than this and the backlog waits too long for one answer.
MAX_RETRY_AFTER_S = 300.0
# Besides 5xx: a receiver that timed out reading the request (408), or asks for it again later (425, 429).
_RETRIED = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Verdict:
    """Retry after `delay` seconds, or give up (dead-letter)."""

    retry: bool
    delay: float = 0.0


def judge(
    status: int | None,
    attempt: int,
    retry_after: str | None,
    *,
    now: float,
    deadline: float,
    backoff: Backoff = DELIVERY_BACKOFF,
    rand: Callable[[], float] = random.random,
) -> Verdict:
    """The verdict on failed attempt number `attempt` (1 = first): `status` None means no HTTP answer
    (a timeout, a refused connection, or anything that raised before one came). `deadline` is the
    delivery's horizon (epoch seconds), `now` the time of the attempt."""
    if status is not None and status not in _RETRIED and not 500 <= status <= 599:
        return Verdict(retry=False)
    delay = backoff.delay(attempt, rand)
    if status == 429:
        delay = rate_limited_delay(retry_after, now, delay, MAX_RETRY_AFTER_S)
    if now + delay > deadline:
        return Verdict(retry=False)
    return Verdict(retry=True, delay=delay)
