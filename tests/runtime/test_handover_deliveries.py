"""`GET /v1/deliveries?handover=`: one handover's deliveries by seq, read off its own index, paged and with the
state filter. The Operations timeline read every page of every handover's deliveries, every 2 s, to find one
handover's (a thousand requests a refresh at a million deliveries)."""

from __future__ import annotations

from typing import Any

from tests.waiting import wait_for

from .conftest import Bot


async def _deliveries(bot: Bot, query: str) -> dict[str, Any]:
    response = await bot.api.get(f"/v1/deliveries?{query}")
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_one_handover_s_deliveries_in_order_a_page_at_a_time(bot: Bot) -> None:
    await bot.connector()
    first, _ = await bot.with_agent()
    second = (await bot.start("s2"))["id"]
    await wait_for(lambda: len(bot.receiver.of_type("handover.status", second)) >= 1, "the second's status")
    everything = (await _deliveries(bot, "limit=1000"))["deliveries"]
    mine = [d for d in everything if d["handoverId"] == first]
    assert mine
    assert len(mine) < len(everything)
    listed = (await _deliveries(bot, f"handover={first}"))["deliveries"]
    assert [d["id"] for d in listed] == [d["id"] for d in mine]
    paged, path = [], f"/v1/deliveries?handover={first}&limit=1"
    while path:
        page = await (await bot.api.get(path)).json()
        assert len(page["deliveries"]) <= 1
        paged.extend(page["deliveries"])
        path = page["next"]
    assert [d["id"] for d in paged] == [d["id"] for d in mine]
    delivered = (await _deliveries(bot, f"handover={first}&state=delivered"))["deliveries"]
    assert [d["id"] for d in delivered] == [d["id"] for d in mine if d["state"] == "delivered"]
    assert (await _deliveries(bot, "handover=ho_00000000000000000000000000000000"))["deliveries"] == []
    refused = await bot.api.get(f"/v1/deliveries?handover={first}&after=eHl6")
    assert refused.status == 400
    assert (await refused.json())["error"]["pointer"] == "/after"
