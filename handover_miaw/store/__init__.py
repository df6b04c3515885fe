"""Persistence for handovers: the Store interface, its records, and the engines behind it.

`create_store(url)` builds the engine a URL or plain path names and `check_store(url)` checks it before
starting (both in `location.py`, which says the URL forms).

The engines and everything that needs them are re-exported lazily (PEP 562): the pure core imports
`records` from here, and must not load redis, sqlite3 and structlog by doing so.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from handover_miaw.store import records
from handover_miaw.store.base import DuplicateHandoverError, Store

if TYPE_CHECKING:
    from handover_miaw.store.location import check_store, create_store
    from handover_miaw.store.preflight import StoreStartError
    from handover_miaw.store.redis import RedisStore
    from handover_miaw.store.sqlite import SqliteStore

__all__ = [
    "DuplicateHandoverError",
    "RedisStore",
    "SqliteStore",
    "Store",
    "StoreStartError",
    "check_store",
    "create_store",
    "records",
]

# The module defining each lazily exported name.
_SOURCE = {
    "RedisStore": "redis",
    "SqliteStore": "sqlite",
    "StoreStartError": "preflight",
    "check_store": "location",
    "create_store": "location",
}


def __getattr__(name: str) -> Any:
    """A lazily exported name, imported from its module at first use and kept."""
    source = _SOURCE.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{source}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's own names and every lazily exported one."""
    return sorted({*globals(), *__all__})
