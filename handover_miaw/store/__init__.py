"""Persistence for handovers: the Store interface, its records, and the engines behind it.

`create_store(url)` picks the engine from a URL: `sqlite:///relative/file.db`, `sqlite:////absolute/file.db`
(SQLAlchemy's convention: the path is what follows the third slash) or a plain file path.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from handover_miaw.store import records
from handover_miaw.store.base import DuplicateHandoverError, Store
from handover_miaw.store.sqlite import SqliteStore

__all__ = ["DuplicateHandoverError", "SqliteStore", "Store", "create_store", "records"]


def create_store(url: str) -> Store:
    """The (unopened) store a URL or plain path names; ValueError for a scheme with no engine.

    The error names only the scheme: a store URL may carry a password.
    """
    if "://" not in url:
        if not url:
            raise ValueError("the store location is empty")
        return SqliteStore(Path(url))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc:
            raise ValueError("a sqlite store URL has no host: use sqlite:///relative.db or sqlite:////abs.db")
        path = unquote(parts.path).removeprefix("/")
        if not path:
            raise ValueError("the sqlite store URL names no file")
        return SqliteStore(Path(path))
    # The Redis engine (a later issue) plugs in here, for `redis://` and `rediss://`.
    raise ValueError(f"unsupported store scheme {scheme!r}: supported are sqlite:// URLs and plain paths")
