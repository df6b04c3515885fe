"""The runtime process's collector settings (`tune_gc`, called by `serve` and the benchmarks' runtime)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from handover_miaw.api.app import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The test process's own settings back afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    gc.unfreeze()
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700
    assert gc.get_freeze_count() > 1000


@pytest.mark.usefixtures("restored_gc")
def test_cyclic_garbage_is_still_collected() -> None:
    tune_gc()
    collected = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            collected.append(1)

    for _ in range(GC_THRESHOLDS[0] * 2):
        Cycle()
    assert collected
