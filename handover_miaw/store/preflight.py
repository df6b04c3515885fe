"""Checks `serve` makes on its store before starting: a store it cannot use stops it with a message that
names the file or server and says what to do (exit 2), never a traceback or a runtime that says ready.

- SQLite: the data directory can be created and written (a probe file, because permission bits say
  nothing to root: a read-only mount, a path under a file or /proc refuse even root), the database file is
  writable, and `PRAGMA quick_check` passes. quick_check reads every page, so it costs what reading the
  file costs: quick from the page cache, seconds for a large file cold from disk (it skips
  integrity_check's index-to-table cross-checks, which cost more again).
- Redis: the server answers a PING within a few seconds. URLs are shown without their password (in the
  user information or a `password` query parameter).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

import redis
from redis.exceptions import RedisError

__all__ = ["StoreStartError", "check_redis", "check_sqlite", "redacted_url"]

_QUICK_CHECK_LINES = 3


class StoreStartError(Exception):
    """The store cannot be used; the message is for the operator (names the place and the remedy)."""


def redacted_url(url: str) -> str:
    """The URL with any password replaced by `***` (the user name is kept: it helps and is no secret), in its
    user information and in a `password` query parameter, which redis-py takes as well."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port is not None else "")
        parts = parts._replace(netloc=netloc)
    # Rewritten piece by piece rather than re-encoded, so that the rest of the query reads as it was given.
    query = "&".join(
        f"{name}=***" if value is not None and _is_password(name) else piece
        for piece, name, value in _query_pieces(parts.query)
    )
    return urlunsplit(parts._replace(query=query))


def _query_pieces(query: str) -> list[tuple[str, str, str | None]]:
    """(piece, name, raw value) for each `&`-separated piece of a query; the value is None without `=`."""
    pieces = []
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        pieces.append((piece, name, value if eq else None))
    return pieces


def _is_password(name: str) -> bool:
    # Any case: redis-py reads only `password`, but another spelling is meant as one all the same.
    return unquote_plus(name).lower() == "password"


def _passwords(url: str) -> set[str]:
    """Every password the URL carries, as written and decoded (a library may echo either)."""
    parts = urlsplit(url)
    found = {value for _piece, name, value in _query_pieces(parts.query) if value and _is_password(name)}
    found.update(unquote_plus(value) for value in list(found))
    if parts.password is not None:
        found.update({parts.password, unquote(parts.password)})
    return {password for password in found if password}


def check_sqlite(path: Path) -> None:
    """Refuse a data directory that cannot be written or a database file that is damaged."""
    directory = path.parent
    try:
        # Owner only: the store holds secrets (webhook secrets, Cognigy keys, live handovers' tokens).
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise StoreStartError(
            f"the data directory {directory} cannot be written ({exc.strerror or exc}): "
            "give the runtime a writable directory (--data-dir or HANDOVER_MIAW_DATA_DIR)"
        ) from None
    if not path.exists():
        return
    if not os.access(path, os.W_OK) or not path.is_file():
        raise StoreStartError(f"the store file {path} is not a writable file: fix its permissions or move it aside")
    problems = _quick_check(path)
    if problems:
        raise StoreStartError(
            f"the store file {path} is damaged (PRAGMA quick_check: {'; '.join(problems)}). "
            f"Stop every process that uses it, then restore it from a backup, or move it aside together with "
            f"{path.name}-wal and {path.name}-shm to start with an empty store (live handovers are then lost)"
        )


def _quick_check(path: Path) -> list[str]:
    """quick_check's first few complaints; [] when the file is sound."""
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = conn.execute(f"PRAGMA quick_check({_QUICK_CHECK_LINES})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
    lines = [str(row[0]) for row in rows]
    return [] if lines == ["ok"] else lines


def check_redis(url: str, timeout_s: float = 5.0) -> None:
    """Refuse a Redis server that does not answer a PING within `timeout_s`."""
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s) as client:
            client.ping()
    except (RedisError, OSError, ValueError) as exc:
        raise StoreStartError(
            f"the Redis store at {redacted_url(url)} does not answer ({type(exc).__name__}: "
            f"{_without(str(exc), url)}): start it or fix the store URL (--store or HANDOVER_MIAW_STORE)"
        ) from None


def _without(message: str, url: str) -> str:
    """An error message with the URL's passwords taken out, should a library have echoed one."""
    # Longest first: a password that contains another must not be left half shown.
    for password in sorted(_passwords(url), key=len, reverse=True):
        message = message.replace(password, "***")
    return message
