"""The outbox end to end: a receiver that is down gets everything in order once back; a delivery past
its horizon is dead-lettered, listed by GET /v1/deliveries?state=dead and re-driven by POST …/retry."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp import web

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.simulator import Simulator
from tests.waiting import wait_for

from .conftest import SECRET, Bot, Factory, Receiver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _deliveries(bot: Bot, state: str) -> list[dict[str, Any]]:
    response = await bot.api.get("/v1/deliveries", params={"state": state})
    assert response.status == 200
    deliveries: list[dict[str, Any]] = (await response.json())["deliveries"]
    return deliveries


async def test_receiver_down_for_a_while_gets_everything_in_order(bot: Bot) -> None:
    port = _free_port()
    body: dict[str, Any] = {
        "config": {
            "baseUrl": bot.sim_url,
            "organizationId": "00D000000000001",
            "esDeveloperName": "Bot_Handover_Custom",
        },
        "delivery": {"format": "webhook", "url": f"http://127.0.0.1:{port}/hook", "secret": SECRET},
    }
    assert (await bot.api.put("/v1/connectors/acme", json=body)).status == 201
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    texts = [f"while down {n}" for n in range(5)]
    for text in texts:
        await bot.sim.send_text(cid, text)

    async def head_retried() -> bool:
        return any(d["attempts"] >= 3 for d in await _deliveries(bot, "pending"))

    # Nothing listens on the port: connections are refused and retried with backoff, never dropped.
    await wait_for(head_retried, "a few refused attempts", seconds=10)
    assert await _deliveries(bot, "dead") == []
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        await wait_for(lambda: len(receiver.of_type("agent.message", hid)) == len(texts), "the backlog", seconds=20)
        assert [d["data"]["text"] for d in receiver.of_type("agent.message", hid)] == texts
        kinds = [d["type"] for d in receiver.deliveries]
        assert kinds[0] == "handover.status"  # the queue status came first, as it happened
        assert receiver.statuses(hid)[:2] == ["queue", "active"]
        assert receiver.bad_signatures == 0
    finally:
        await runner.cleanup()


async def test_dead_letter_is_listed_and_redriven_through_the_api(
    start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    bot = Bot(await start_runtime(delivery_horizon_s=0.5), sim, receiver, sim_url)
    await bot.connector()
    bot.receiver.fail_next = 10**6  # the receiver answers 503 to everything
    handover = await bot.start()
    hid = handover["id"]

    async def any_dead() -> bool:
        return bool(await _deliveries(bot, "dead"))

    await wait_for(any_dead, "a dead delivery", seconds=10)
    dead = await _deliveries(bot, "dead")
    (first,) = dead[:1]
    assert first["handoverId"] == hid
    assert first["type"] == "handover.status"
    assert first["lastError"] == "HTTP 503"
    assert first["attempts"] >= 1
    bot.receiver.fail_next = 0
    response = await bot.api.post(f"/v1/deliveries/{first['id']}/retry")
    assert response.status == 202
    assert await response.json() == {"id": first["id"], "state": "pending"}
    await wait_for(lambda: any(d["id"] == first["id"] for d in bot.receiver.deliveries), "the re-driven one")
    again = await bot.api.post(f"/v1/deliveries/{first['id']}/retry")
    assert again.status == 404  # no longer dead
    missing = await bot.api.post("/v1/deliveries/dl_nope/retry")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    assert (await bot.api.get("/v1/deliveries", params={"state": "bogus"})).status == 400


async def test_store_failures_while_draining_do_not_stop_deliveries(bot: Bot, monkeypatch: Any) -> None:
    await bot.connector()
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    await bot.wait_state(hid, "active")
    store = bot.api.server.app[HANDOVERS].store
    real_due, real_mark = store.due_deliveries, store.mark_delivered_many
    failures = {"due": 2, "mark": 1}

    async def due(*args: Any, **kwargs: Any) -> Any:
        if failures["due"]:
            failures["due"] -= 1
            raise ConnectionError("No connection available.")
        return await real_due(*args, **kwargs)

    async def mark(*args: Any, **kwargs: Any) -> Any:
        if failures["mark"]:
            failures["mark"] -= 1
            raise ConnectionError("No connection available.")
        return await real_mark(*args, **kwargs)

    monkeypatch.setattr(store, "due_deliveries", due)
    monkeypatch.setattr(store, "mark_delivered_many", mark)
    await bot.sim.send_text(cid, "first", agent="Maria")
    await wait_for(lambda: failures == {"due": 0, "mark": 0}, "the store failures", seconds=10)
    await bot.sim.send_text(cid, "second", agent="Maria")

    def texts() -> list[str]:
        return [d["data"]["text"] for d in bot.receiver.of_type("agent.message", hid)]

    # The first was posted once before its outcome could be stored, so it may arrive twice (same id).
    await wait_for(lambda: texts()[-1:] == ["second"], "both messages", seconds=10)
    assert sorted(set(texts())) == ["first", "second"]
    ids = [d["id"] for d in bot.receiver.of_type("agent.message", hid)]
    assert len(set(ids)) == 2

    async def none_pending() -> bool:
        # A drain pass marks its deliveries in one write after its attempts: the mark may trail the receipt.
        return await _deliveries(bot, "pending") == []

    await wait_for(none_pending, "no delivery left pending")
