"""Connector CRUD."""

from __future__ import annotations

from handover_miaw.store import Store
from handover_miaw.store.records import ConnectorRecord
from tests.store.factories import T0


def connector(name: str, updated_at: float = T0, **config: object) -> ConnectorRecord:
    return ConnectorRecord(
        name=name,
        config={"orgId": "00D000000000001", **config},
        delivery={"format": "webhook", "url": f"https://bot.example/{name}"},
        updated_at=updated_at,
    )


async def test_missing_connector_is_none(store: Store) -> None:
    assert await store.get_connector("nope") is None
    assert await store.list_connectors() == []


async def test_put_then_get_round_trips(store: Store) -> None:
    record = connector("acme", region="eu")
    await store.put_connector(record)
    assert await store.get_connector("acme") == record


async def test_put_replaces(store: Store) -> None:
    await store.put_connector(connector("acme", region="eu"))
    replacement = connector("acme", updated_at=T0 + 5, region="us")
    await store.put_connector(replacement)
    assert await store.get_connector("acme") == replacement
    assert await store.list_connectors() == [replacement]


async def test_list_is_by_name(store: Store) -> None:
    for name in ["zeta", "acme", "mid"]:
        await store.put_connector(connector(name))
    assert [c.name for c in await store.list_connectors()] == ["acme", "mid", "zeta"]


async def test_delete(store: Store) -> None:
    await store.put_connector(connector("acme"))
    await store.put_connector(connector("other"))
    assert await store.delete_connector("acme") is True
    assert await store.delete_connector("acme") is False
    assert await store.get_connector("acme") is None
    assert [c.name for c in await store.list_connectors()] == ["other"]
