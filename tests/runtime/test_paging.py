"""Lists page through everything (issue 12, point 3): 113 dead letters are all found through the `next`
links, the newest is re-driven and delivered, and /metrics counts the dead letters; on both engines."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.simulator import Simulator
from handover_miaw.store.records import HandoverState, NewDelivery
from tests.store.factories import handover
from tests.waiting import wait_for

from .conftest import Bot, Factory, Receiver

REDIS_URL = os.environ.get("HM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: SQLite in the data dir; else a Redis namespace of the test's own, deleted afterwards."""
    if request.param == "sqlite":
        yield None
        return
    namespace = f"hm-test-{uuid.uuid4().hex}"
    yield f"{REDIS_URL}?namespace={namespace}"
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)


async def _follow(bot: Bot, path: str) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following `next`; (items, pages)."""
    items: list[dict[str, Any]] = []
    pages = 0
    link: str | None = path
    while link is not None:
        response = await bot.api.get(link)
        assert response.status == 200, await response.text()
        body = await response.json()
        key = path.split("?")[0].rsplit("/", 1)[-1]
        items.extend(body[key])
        link = body["next"]
        pages += 1
    return items, pages


async def test_113_dead_letters_are_all_found_and_the_newest_redriven(
    start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str, store_url: str | None
) -> None:
    bot = Bot(await start_runtime(store=store_url), sim, receiver, sim_url)
    await bot.connector()
    store = bot.api.app[HANDOVERS].store
    dead_ids = []
    for n in range(113):
        hid = f"ho_{n:032x}"
        await store.create_handover(handover(hid, state=HandoverState.ENDED))
        envelope = {"id": f"dl_{n:03d}", "type": "agent.message", "handoverId": hid, "data": {"text": str(n)}}
        await store.record_event(hid, "e1", {}, [NewDelivery(f"dl_{n:03d}", hid, "agent.message", envelope)])
        await store.mark_dead(f"dl_{n:03d}", "HTTP 503")
        dead_ids.append(f"dl_{n:03d}")

    dead, pages = await _follow(bot, "/v1/deliveries?state=dead&limit=50")
    assert [d["id"] for d in dead] == dead_ids
    assert pages == 3
    first_page = await (await bot.api.get("/v1/deliveries?state=dead")).json()
    assert len(first_page["deliveries"]) == 100  # the default limit
    assert "dl_112" not in [d["id"] for d in first_page["deliveries"]]
    metrics = await (await bot.api.get("/metrics")).text()
    assert "handover_miaw_dead_deliveries 113.0" in metrics

    response = await bot.api.post(f"/v1/deliveries/{dead_ids[-1]}/retry")
    assert response.status == 202
    await wait_for(lambda: any(d["id"] == "dl_112" for d in receiver.deliveries), "the re-driven newest")
    metrics = await (await bot.api.get("/metrics")).text()
    assert "handover_miaw_dead_deliveries 112.0" in metrics

    handovers, pages = await _follow(bot, "/v1/handovers?state=ended&limit=40")
    assert len({h["id"] for h in handovers}) == 113
    assert pages == 3
    connectors, _ = await _follow(bot, "/v1/connectors?limit=1")
    assert [c["name"] for c in connectors] == ["acme"]


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("limit=0", "/limit"),
        ("limit=1001", "/limit"),
        ("limit=x", "/limit"),
        ("after=%25%25", "/after"),
        ("after=eHl6", "/after"),
        # Digits other than ASCII's: "²" and "①" were a 500 (int() refused what str.isdigit() took), U+0661 was 1.
        ("limit=%C2%B2", "/limit"),
        ("limit=%E2%91%A0", "/limit"),
        ("limit=%D9%A1", "/limit"),
        ("limit=" + "9" * 5000, "/limit"),
        # "1:99999999999999999999999": a handover cursor whose row number overflowed SQLite's integer (a 500).
        ("after=MTo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ", "/after"),
    ],
)
async def test_bad_paging_parameters_are_400_naming_the_parameter(bot: Bot, query: str, pointer: str) -> None:
    for path in ("/v1/deliveries", "/v1/handovers", "/v1/connectors"):
        response = await bot.api.get(f"{path}?{query}")
        if path == "/v1/connectors" and pointer == "/after" and query == "after=eHl6":
            continue  # a name a connector may have is a position among connector names
        assert response.status == 400, (path, query)
        assert (await response.json())["error"]["pointer"] == pointer
