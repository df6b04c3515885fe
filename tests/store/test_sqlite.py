"""What is particular to the SQLite engine: pragmas, schema version, and the store URL factory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from handover_miaw.store import SqliteStore, create_store
from handover_miaw.store.records import ConnectorRecord
from handover_miaw.store.sqlite_schema import SCHEMA_VERSION
from tests.waiting import wait_for


async def test_open_sets_wal_and_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.open()
    try:
        with sqlite3.connect(path) as other:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert other.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        await store.close()


async def test_the_wal_is_checkpointed_in_the_background_not_by_commits(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path, checkpoint_interval_s=0.05)
    await store.open()
    try:
        # The database file changes only when a checkpoint copies the WAL into it.
        await store.put_connector(ConnectorRecord("acme", {"baseUrl": "x" * 50_000}, {}, 0.0))
        size = path.stat().st_size
        assert (tmp_path / "store.db-wal").stat().st_size > 50_000
        await wait_for(lambda: path.stat().st_size > size + 50_000, "a checkpoint into the database file")
        assert store._connection().execute("PRAGMA wal_autocheckpoint").fetchall() == [(0,)]
    finally:
        await store.close()
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT length(config) > 50000 FROM connectors").fetchone() == (1,)


async def test_reopening_keeps_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    for _ in range(2):
        store = SqliteStore(path)
        await store.open()
        await store.close()
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as other:
        other.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = SqliteStore(path)
    with pytest.raises(RuntimeError, match="newer"):
        await store.open()
    assert await store.ping() is False


async def test_using_a_closed_store_is_an_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    with pytest.raises(RuntimeError, match="not open"):
        await store.get_handover("h1")


@pytest.mark.parametrize(
    ("url", "created"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///my%20store.db", "my store.db"),
        ("sqlite:///{tmp}/absolute.db", "absolute.db"),
        ("plain.db", "plain.db"),
        ("{tmp}/plain-absolute.db", "plain-absolute.db"),
    ],
)
async def test_create_store_opens_the_named_file(
    url: str, created: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative paths resolve against the working directory; absolute ones must not.
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    store = create_store(url.format(tmp=tmp_path))
    await store.open()
    await store.close()
    base = tmp_path if "{tmp}" in url else tmp_path / "cwd"
    assert (base / created).is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mongodb://:hunter2@cache:27017/0", "'mongodb'"),
        ("postgres://db/x", "'postgres'"),
        ("sqlite://host/store.db", "no host"),
        ("sqlite:///", "no file"),
        ("", "empty"),
    ],
)
def test_create_store_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        create_store(url)
    assert "hunter2" not in str(caught.value)
