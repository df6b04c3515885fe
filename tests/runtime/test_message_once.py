"""The same message id sent concurrently reaches MIAW once: in one process the requests share the first
one's call and answer; across processes (two runtimes on one Redis namespace) a reservation in the store
lets one send while the other waits for its outcome. The same id with another text answers 409."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.handovers.user_actions import _digest
from handover_miaw.simulator import Simulator

from .conftest import REDIS, Bot, Factory, Receiver


def _sends(sim: Simulator) -> int:
    return sum(call.endpoint == "send_message" for call in sim.calls)


async def _post(api: TestClient[Any, Any], hid: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = await api.post(f"/v1/handovers/{hid}/messages", json=body)
    return response.status, await response.json()


async def test_a_hundred_concurrent_sends_of_one_id_make_one_miaw_call(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    hid = handover["id"]
    await bot.sim.accept(handover["conversationId"], agent="Maria")
    await bot.wait_state(hid, "active")
    bot.sim.faults.add_latency("send_message", 0.2)  # the first call is still in flight when the rest arrive
    before = _sends(bot.sim)
    answers = await asyncio.gather(*(_post(bot.api, hid, {"id": "dup-1", "text": "hello"}) for _ in range(100)))
    assert _sends(bot.sim) - before == 1
    assert {status for status, _ in answers} == {202}
    assert len({body["miawMessageId"] for _, body in answers}) == 1
    again = await _post(bot.api, hid, {"id": "dup-1", "text": "hello"})
    assert again[0] == 200
    assert _sends(bot.sim) - before == 1


async def test_requests_sharing_a_failed_call_all_get_its_failure_and_a_retry_sends_again(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    hid = handover["id"]
    bot.sim.faults.add_latency("send_message", 0.2)
    bot.sim.faults.fail_next("send_message", 400, 1, None)  # not retried: the caller gets it
    before = _sends(bot.sim)
    answers = await asyncio.gather(*(_post(bot.api, hid, {"id": "f-1", "text": "hello"}) for _ in range(10)))
    assert {status for status, _ in answers} == {502}
    assert _sends(bot.sim) - before == 1
    retried = await _post(bot.api, hid, {"id": "f-1", "text": "hello"})
    assert retried[0] == 202
    assert _sends(bot.sim) - before == 2


async def test_the_same_id_with_another_text_is_a_conflict(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    hid = handover["id"]
    bot.sim.faults.add_latency("send_message", 0.2)
    first, clash = await asyncio.gather(
        _post(bot.api, hid, {"id": "m-1", "text": "one text"}),
        _post(bot.api, hid, {"id": "m-1", "text": "another text"}),
    )
    assert first[0] == 202
    assert clash[0] == 409
    assert clash[1]["error"]["code"] == "id_conflict"
    later = await _post(bot.api, hid, {"id": "m-1", "text": "yet another"})
    assert later[0] == 409
    assert later[1]["error"]["code"] == "id_conflict"
    assert (await _post(bot.api, hid, {"id": "m-1", "text": "one text"}))[0] == 200


async def test_on_a_store_of_one_process_a_message_is_one_write_after_miaw_accepted(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.connector()
    handover = await bot.start()
    hid = handover["id"]
    store = bot.api.server.app[HANDOVERS].store
    assert store.single_process()
    writes: list[tuple[Any, ...]] = []
    real_mark = store.mark_user_message_sent

    async def mark(*args: Any) -> None:
        assert _sends(bot.sim) == before + 1  # MIAW accepted it first
        writes.append(args)
        await real_mark(*args)

    async def reserve(*args: Any) -> None:
        writes.append(("reserve", *args))

    monkeypatch.setattr(store, "mark_user_message_sent", mark)
    monkeypatch.setattr(store, "reserve_user_message", reserve)
    before = _sends(bot.sim)
    status, body = await _post(bot.api, hid, {"id": "m-1", "text": "hello"})
    assert status == 202
    assert writes == [(hid, "m-1", body["miawMessageId"], _digest("hello"))]
    assert (await _post(bot.api, hid, {"id": "m-1", "text": "hello"}))[0] == 200
    clash = await _post(bot.api, hid, {"id": "m-1", "text": "other"})
    assert (clash[0], clash[1]["error"]["code"]) == (409, "id_conflict")
    assert len(writes) == 1
    assert _sends(bot.sim) == before + 1


async def test_a_reservation_left_by_a_stopped_process_is_sent_under_its_id_for_its_text_only(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    hid = handover["id"]
    store = bot.api.server.app[HANDOVERS].store
    left = "0b6f8c1e-4d2a-4e8f-9c3b-7a1d2e3f4a5b"
    assert (await store.reserve_user_message(hid, "m-1", left, _digest("hello"), 30.0))[0]
    clash = await _post(bot.api, hid, {"id": "m-1", "text": "other"})
    assert (clash[0], clash[1]["error"]["code"]) == (409, "id_conflict")
    status, body = await _post(bot.api, hid, {"id": "m-1", "text": "hello"})
    assert (status, body["miawMessageId"]) == (202, left)
    stored = await store.get_user_message(hid, "m-1")
    assert stored is not None
    assert (stored.state, stored.miaw_message_id) == ("sent", left)


async def test_two_runtimes_on_one_redis_make_one_miaw_call(
    redis_namespace: str, start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    store = f"{REDIS}?namespace={redis_namespace}"
    first = Bot(await start_runtime(store=store, lease_ttl_s=2.0), sim, receiver, sim_url)
    second = await start_runtime(store=store, lease_ttl_s=2.0)
    await first.connector()
    handover = await first.start()
    hid = handover["id"]
    sim.faults.add_latency("send_message", 0.3)
    before = _sends(sim)
    body = {"id": "dup-1", "text": "hello"}
    answers = await asyncio.gather(*(_post(api, hid, body) for _ in range(30) for api in (first.api, second)))
    assert _sends(sim) - before == 1
    assert {status for status, _ in answers} == {202}
    assert len({answer["miawMessageId"] for _, answer in answers}) == 1
    clash = await _post(second, hid, {"id": "dup-1", "text": "other"})
    assert clash[0] == 409
    assert clash[1]["error"]["code"] == "id_conflict"


def _file_form(data: bytes, client_id: str) -> Any:
    from aiohttp import FormData

    form = FormData()
    form.add_field("file", data, filename="receipt.pdf", content_type="application/pdf")
    form.add_field("id", client_id)
    return form


async def test_two_runtimes_on_one_redis_send_a_file_or_a_message_under_one_id_once(
    redis_namespace: str, start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    # Files skipped the reservation: a file and a message (or two files) under one id, each sent by another
    # process, were both answered sent under one derived MIAW id, and MIAW dropped the second as a repeat.
    store = f"{REDIS}?namespace={redis_namespace}"
    first = Bot(await start_runtime(store=store, lease_ttl_s=2.0), sim, receiver, sim_url)
    second = await start_runtime(store=store, lease_ttl_s=2.0)
    await first.connector()
    hid = (await first.start())["id"]
    sim.faults.add_latency("send_file", 0.3)
    sim.faults.add_latency("send_message", 0.3)
    for n, (one, other) in enumerate(
        [
            (lambda cid: first.api.post(f"/v1/handovers/{hid}/files", data=_file_form(b"%PDF-1.4 a", cid)),
             lambda cid: second.post(f"/v1/handovers/{hid}/messages", json={"id": cid, "text": "hello"})),
            (lambda cid: first.api.post(f"/v1/handovers/{hid}/files", data=_file_form(b"%PDF-1.4 a", cid)),
             lambda cid: second.post(f"/v1/handovers/{hid}/files", data=_file_form(b"%PDF-1.4 b", cid))),
        ]
    ):  # fmt: skip
        posts = sum(call.endpoint in {"send_file", "send_message"} for call in sim.calls)
        answers = await asyncio.gather(one(f"x-{n}"), other(f"x-{n}"))
        statuses = sorted(answer.status for answer in answers)
        assert statuses[0] in {201, 202}, statuses
        assert statuses[1] == 409, statuses
        assert sum(call.endpoint in {"send_file", "send_message"} for call in sim.calls) - posts == 1
