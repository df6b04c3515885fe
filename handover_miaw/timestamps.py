"""The one timestamp format of everything the runtime hands out: ISO 8601 in UTC with milliseconds and
a `Z` (`2026-12-01T20:22:18.123Z`, also valid RFC 3339); log lines carry microseconds, as structlog
writes them. The store keeps epoch seconds. Pure."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime

__all__ = ["iso_utc", "iso_utc_micros", "iso_utc_or_none"]


def iso_utc(epoch: float) -> str:
    """Epoch seconds as an ISO 8601 UTC timestamp: what
    `datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")` spells, with a `Z`."""
    second, micros = _split(epoch)
    return f"{_second(second)}.{micros // 1000:03d}Z"


def iso_utc_micros(epoch: float) -> str:
    """Epoch seconds as structlog's TimeStamper(fmt="iso", utc=True) spells them: microseconds, left out
    when there are none, and a `Z`."""
    second, micros = _split(epoch)
    return f"{_second(second)}.{micros:06d}Z" if micros else f"{_second(second)}Z"


def _split(epoch: float) -> tuple[int, int]:
    # The date and time of a second are spelled once (_second): a datetime per timestamp was a visible
    # share of each delivery's and each access line's cost. The microseconds are taken as
    # datetime.fromtimestamp takes them (CPython's _PyTime_DoubleToDenominator): the fraction rounded half
    # to even, a carry moving the second either way.
    fraction, whole = math.modf(epoch)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros, whole = micros - 1_000_000, whole + 1
    elif micros < 0:
        micros, whole = micros + 1_000_000, whole - 1
    return int(whole), micros


@functools.lru_cache(maxsize=8)
def _second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat().replace("+00:00", "")


def iso_utc_or_none(epoch: float | None) -> str | None:
    """`iso_utc`, passing None through (a time that has not happened yet)."""
    return None if epoch is None else iso_utc(epoch)
