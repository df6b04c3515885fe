"""Persistence for handovers: the Store interface, its records, and the engines behind it.

`create_store(url)` picks the engine from a URL: `sqlite:///relative/file.db`, `sqlite:////absolute/file.db`
(SQLAlchemy's convention: the path is what follows the third slash) or a plain file path;
`redis://host:port/db` or `rediss://...` (TLS), with an optional `?namespace=name` for the key prefix.

The engines are re-exported lazily (PEP 562): the pure core imports `records` from here, and must not load
aiosqlite, redis and structlog by doing so.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from handover_miaw.store import records
from handover_miaw.store.base import DuplicateHandoverError, Store

if TYPE_CHECKING:
    from handover_miaw.store.redis import RedisStore
    from handover_miaw.store.sqlite import SqliteStore

__all__ = ["DuplicateHandoverError", "RedisStore", "SqliteStore", "Store", "create_store", "records"]

# The module defining each lazily exported name.
_SOURCE = {"RedisStore": "redis", "SqliteStore": "sqlite"}


def __getattr__(name: str) -> Any:
    """An engine class, imported from its module at first use and kept."""
    source = _SOURCE.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{source}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's own names and every lazily exported one."""
    return sorted({*globals(), *__all__})


def create_store(url: str) -> Store:
    """The (unopened) store a URL or plain path names; ValueError for a scheme with no engine.

    The error names only the scheme: a store URL may carry a password.
    """
    # Imported here, not at the top, so that importing the package for its records loads no engine.
    from handover_miaw.store.sqlite import SqliteStore

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
    if scheme in {"redis", "rediss"}:
        return _redis_store(url)
    raise ValueError(
        f"unsupported store scheme {scheme!r}: supported are sqlite:// and redis(s):// URLs and plain paths"
    )


def _redis_store(url: str) -> RedisStore:
    """A RedisStore for a redis(s):// URL; its `namespace` query parameter is ours, the rest is redis-py's."""
    from handover_miaw.store.redis import RedisStore  # here for the reason given in create_store

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    namespaces = [value for name, value in query if name == "namespace"]
    if len(namespaces) > 1:
        raise ValueError("the redis store URL names more than one namespace")
    rest = urlencode([(name, value) for name, value in query if name != "namespace"])
    server_url = parts._replace(query=rest).geturl()
    return RedisStore(server_url, namespace=namespaces[0]) if namespaces else RedisStore(server_url)
