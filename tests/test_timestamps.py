"""The runtime's timestamp spellings are exactly datetime's, whatever second or fraction they hold."""

from __future__ import annotations

import datetime
import random

import pytest

from handover_miaw.timestamps import iso_utc, iso_utc_micros, iso_utc_or_none

# Fractions on both sides of a rounding step: datetime rounds to microseconds half to even and carries a
# rounded-up fraction into the next second (and minute, day, year).
EDGES = [
    0.0, 1.0, 1764655800.0, 1764655800.5, 1764655800.123456, 1764655800.9999996, 1764655800.9995,
    1000000.0000004, 1000000.0000005, 1000000.0000015, 1000000.9999995, 1000000.9999996,
    951782399.9999999, 4102444799.999999, 1767225599.99999, 1767225599.9999997,
    -1.25, -0.0000004, -1.0000015, -0.0000005, -86400.9999995, -0.0, 253402300799.9999,
]  # fmt: skip


def _datetime(epoch: float, **kwargs: str) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(**kwargs).replace("+00:00", "Z")


@pytest.mark.parametrize("epoch", EDGES)
def test_edges_are_spelled_as_datetime_spells_them(epoch: float) -> None:
    assert iso_utc(epoch) == _datetime(epoch, timespec="milliseconds")
    assert iso_utc_micros(epoch) == _datetime(epoch)


def test_random_times_are_spelled_as_datetime_spells_them() -> None:
    rng = random.Random(17)
    for _ in range(20_000):
        epoch = rng.uniform(-1e9, 4_102_444_800) if rng.random() < 0.5 else 1_764_655_800 + rng.random()
        assert iso_utc(epoch) == _datetime(epoch, timespec="milliseconds")
        assert iso_utc_micros(epoch) == _datetime(epoch)


def test_none_passes_through() -> None:
    assert iso_utc_or_none(None) is None
    assert iso_utc_or_none(1764655800.25) == "2025-12-02T06:10:00.250Z"
