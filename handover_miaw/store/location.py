"""Where a store lives, parsed once: the engine a URL or plain path names, that engine built for it, and the
checks `serve` makes on it before starting.

`sqlite:///relative/file.db`, `sqlite:////absolute/file.db` (SQLAlchemy's convention: the path is what
follows the third slash) or a plain file path; `redis://host:port/db` or `rediss://...` (TLS), with an
optional `?namespace=name` for the key prefix.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from handover_miaw.store.base import Store
from handover_miaw.store.preflight import check_redis, check_sqlite
from handover_miaw.store.records import Retention
from handover_miaw.store.redis import RedisStore
from handover_miaw.store.sqlite import SqliteStore

__all__ = ["check_store", "create_store", "sqlite_path"]


def create_store(url: str, *, retention: Retention | None = None, wal_limit_bytes: int = 64 * 1024 * 1024) -> Store:
    """The (unopened) store a URL or plain path names; ValueError for a scheme with no engine.

    The error names only the scheme: a store URL may carry a password. Both engines keep ended handovers
    and dead letters as `retention` says; `wal_limit_bytes` bounds SQLite's WAL file.
    """
    retention = retention or Retention()
    path = sqlite_path(url)
    if path is not None:
        # Purge a few times per retention period, at most every minute (each round is a few small batches).
        purge_interval_s = min(60.0, max(1.0, retention.ended_s / 4))
        return SqliteStore(
            path, retention=retention, wal_limit_bytes=wal_limit_bytes, purge_interval_s=purge_interval_s
        )
    server_url, namespace = _redis_parts(url)
    return RedisStore(
        server_url,
        namespace="hm" if namespace is None else namespace,
        ended_ttl_s=retention.ended_s,
        dead_ttl_s=retention.dead_s,
    )


def check_store(url: str) -> None:
    """Before starting: StoreStartError when the store cannot be used (see preflight), ValueError for a URL
    with no engine."""
    path = sqlite_path(url)
    if path is not None:
        check_sqlite(path)
    else:
        check_redis(_redis_parts(url)[0])


def sqlite_path(url: str) -> Path | None:
    """The SQLite file a URL or plain path names; None for a redis(s):// URL; ValueError otherwise."""
    if "://" not in url:
        if not url:
            raise ValueError("the store location is empty")
        return Path(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc:
            raise ValueError("a sqlite store URL has no host: use sqlite:///relative.db or sqlite:////abs.db")
        path = unquote(parts.path).removeprefix("/")
        if not path:
            raise ValueError("the sqlite store URL names no file")
        return Path(path)
    if scheme in {"redis", "rediss"}:
        return None
    raise ValueError(
        f"unsupported store scheme {scheme!r}: supported are sqlite:// and redis(s):// URLs and plain paths"
    )


def _redis_parts(url: str) -> tuple[str, str | None]:
    """The server URL (for redis-py) and our `namespace` query parameter of a redis(s):// URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    namespaces = [value for name, value in query if name == "namespace"]
    if len(namespaces) > 1:
        raise ValueError("the redis store URL names more than one namespace")
    rest = urlencode([(name, value) for name, value in query if name != "namespace"])
    return parts._replace(query=rest).geturl(), namespaces[0] if namespaces else None
