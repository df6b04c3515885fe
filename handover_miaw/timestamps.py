"""The one timestamp format of everything the runtime hands out: ISO 8601 in UTC with milliseconds and
a `Z` (`2026-12-01T20:22:18.123Z`, also valid RFC 3339). The store keeps epoch seconds. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_utc", "iso_utc_or_none"]


def iso_utc(epoch: float) -> str:
    """Epoch seconds as an ISO 8601 UTC timestamp."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_utc_or_none(epoch: float | None) -> str | None:
    """`iso_utc`, passing None through (a time that has not happened yet)."""
    return None if epoch is None else iso_utc(epoch)
