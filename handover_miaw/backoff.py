"""Capped, jittered exponential backoff: how long to wait after the n-th failure in a row. Pure: no I/O.

Neutral ground for every loop that retries: the outbox (delivery.outcomes) and the MIAW client's request
retries and stream reconnects (miaw.retry), each with its own figures. The miaw package may import this
module and nothing else of handover_miaw, so it imports the standard library only
(tests/miaw/test_self_contained.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff"]

# Past this the cap has long been reached; bounding the exponent keeps a float from overflowing.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """`base * factor**(failures-1)`, capped at `cap`, with equal jitter (half fixed, half random)."""

    base: float = 0.25
    factor: float = 2.0
    cap: float = 30.0

    def ceiling(self, failures: int) -> float:
        """The largest wait after `failures` failures in a row (>= 1); 0 failures means no wait."""
        if failures <= 0:
            return 0.0
        return min(self.cap, self.base * self.factor ** min(failures - 1, _MAX_EXPONENT))

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after `failures` failures in a row: between half the ceiling and the ceiling.

        Equal jitter spreads a herd apart without ever retrying at once (full jitter can draw ~0).
        """
        ceiling = self.ceiling(failures)
        return ceiling / 2 + rand() * ceiling / 2
