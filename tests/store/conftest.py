"""One store suite for every engine: each test gets an opened store of every kind listed in ENGINES.

A new engine joins the suite by adding its name to ENGINES and a branch to `_build`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handover_miaw.store import SqliteStore, Store
from tests.store.factories import Clock, OpenStore

ENGINES = ["sqlite"]


@pytest.fixture
def clock() -> Clock:
    """The store's clock, starting at T0."""
    return Clock()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine under test."""
    return str(request.param)


def _build(engine: str, tmp_path: Path, clock: Clock) -> Store:
    if engine == "sqlite":
        return SqliteStore(tmp_path / "store.db", clock=clock)
    raise AssertionError(f"no fixture for engine {engine}")


@pytest.fixture
async def open_store(engine: str, tmp_path: Path, clock: Clock) -> AsyncIterator[OpenStore]:
    """Open a store on the test's storage; every call opens another on the same data (a restart)."""
    opened: list[Store] = []

    async def make() -> Store:
        store = _build(engine, tmp_path, clock)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    """An opened, empty store."""
    return await open_store()
