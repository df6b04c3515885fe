"""MIAW misbehaving, one fault per test, through the whole runtime over loopback against the simulator.

Each test injects the fault with the simulator's own switches and checks what the bot platform and the
agent end up with: nothing lost, nothing doubled, and a handover that ends with its reason rather than
hangs.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.simulator import Simulator
from tests.waiting import wait_for

from .conftest import Bot, Factory, Receiver


@pytest.fixture
async def acme(bot: Bot) -> Bot:
    await bot.connector()
    return bot


async def _active(bot: Bot) -> tuple[str, str]:
    handover = await bot.start()
    await bot.sim.accept(handover["conversationId"], agent="Maria")
    await bot.wait_state(handover["id"], "active")
    return handover["id"], handover["conversationId"]


def _calls(sim: Simulator, endpoint: str) -> list[int]:
    return [c.status for c in sim.calls if c.endpoint == endpoint]


def _texts(sim: Simulator, cid: str) -> list[str | None]:
    return [m.text for m in sim.conversation(cid).end_user_messages]


async def test_429_with_retry_after_on_send_is_waited_out(acme: Bot) -> None:
    hid, cid = await _active(acme)
    acme.sim.fail_next("send_message", 429, count=1, retry_after=1)
    started = time.monotonic()
    response = await acme.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m1", "text": "hello"})
    assert response.status == 202
    assert time.monotonic() - started >= 0.9, "Retry-After must be honoured"
    assert _calls(acme.sim, "send_message") == [429, 202]
    assert _texts(acme.sim, cid) == ["hello"]


async def test_503s_are_retried_then_reported_and_the_same_id_sends_once(acme: Bot) -> None:
    hid, cid = await _active(acme)
    url = f"/v1/handovers/{hid}/messages"
    acme.sim.fail_next("send_message", 503, count=2)
    assert (await acme.api.post(url, json={"id": "m1", "text": "one"})).status == 202
    acme.sim.fail_next("send_message", 503, count=4)  # every attempt of the client's retry budget
    refused = await acme.api.post(url, json={"id": "m2", "text": "two"})
    assert refused.status == 503
    assert (await refused.json())["error"]["code"] == "upstream_unavailable"
    assert (await acme.api.post(url, json={"id": "m2", "text": "two"})).status == 202
    assert _texts(acme.sim, cid) == ["one", "two"]
    assert (await acme.handover(hid))["state"] == "active"


async def test_slow_endpoint_times_out_without_a_duplicate(
    start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    bot = Bot(await start_runtime(miaw_timeout_s=0.3), sim, receiver, sim_url)
    await bot.connector()
    hid, cid = await _active(bot)
    url = f"/v1/handovers/{hid}/messages"
    bot.sim.add_latency("send_message", 0.6)
    slow = await bot.api.post(url, json={"id": "m1", "text": "slow"})
    assert slow.status == 503
    assert (await slow.json())["error"]["code"] == "upstream_unavailable"
    bot.sim.add_latency("send_message", 0)
    # The caller retries with the same id; the runtime reuses the MIAW message id of the timed-out
    # attempts, so even an attempt that had landed late could not make a second message.
    again = await bot.api.post(url, json={"id": "m1", "text": "slow"})
    assert again.status in (200, 202)
    assert _texts(bot.sim, cid) == ["slow"]


async def test_streams_dropped_every_few_events_lose_and_double_nothing(acme: Bot) -> None:
    hid, cid = await _active(acme)
    opened = len(_calls(acme.sim, "sse"))
    acme.sim.drop_streams(every_n_events=2)
    texts = [f"agent {n}" for n in range(8)]
    for sent, text in enumerate(texts, start=1):
        # One at a time, so messages arrive on streams that are being dropped, not only in a catch-up.
        await acme.sim.send_text(cid, text)
        await wait_for(
            lambda n=sent: len(acme.receiver.of_type("agent.message", hid)) >= n,
            "the message sent while streams drop",
            seconds=10,
        )
    acme.sim.reset_faults()
    await acme.sim.send_text(cid, "marker")
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) >= len(texts) + 1, "the marker", seconds=10)
    delivered = [d["data"]["text"] for d in acme.receiver.of_type("agent.message", hid)]
    assert delivered == [*texts, "marker"]
    assert len(_calls(acme.sim, "sse")) - opened >= 3, "the streams really were dropped and re-opened"


async def test_silent_stream_is_reopened_after_the_heartbeat_timeout(acme: Bot) -> None:
    hid, cid = await _active(acme)
    opened = len(_calls(acme.sim, "sse"))
    acme.sim.stop_heartbeat()
    # heartbeat_timeout_s is 2 s in these tests: a stream without pings is given up and opened again.
    await wait_for(lambda: len(_calls(acme.sim, "sse")) > opened, "a reconnect", seconds=10)
    acme.sim.stop_heartbeat(False)
    await acme.sim.send_text(cid, "after the silence")
    await wait_for(
        lambda: len(acme.receiver.of_type("agent.message", hid)) == 1, "the message after the silence", seconds=10
    )
    assert acme.receiver.of_type("agent.message", hid)[0]["data"]["text"] == "after the silence"


async def test_closed_on_salesforce_side_reports_the_message_undelivered(acme: Bot) -> None:
    hid, cid = await _active(acme)
    await acme.sim.close(cid)
    response = await acme.api.post(f"/v1/handovers/{hid}/messages", json={"id": "late", "text": "hello?"})
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "state_conflict"
    assert "not delivered" in error["message"]
    assert "hello?" not in _texts(acme.sim, cid)
    ended = await acme.wait_state(hid, "ended")
    assert ended["endStatus"] == "completed"
    await wait_for(lambda: len(acme.receiver.of_type("handover.ended", hid)) == 1, "the end delivered")


async def test_stuck_in_queue_ends_with_queue_timeout_and_closes(
    start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    bot = Bot(await start_runtime(queue_timeout_s=1.0), sim, receiver, sim_url)
    await bot.connector()
    waiting = await bot.start("waiting")
    served = await bot.start("served")
    await bot.sim.accept(served["conversationId"], agent="Maria")
    ended = await bot.wait_state(waiting["id"], "ended", seconds=10)
    assert (ended["endStatus"], ended["endReason"]) == ("error", "queue_timeout")
    await wait_for(lambda: bot.sim.conversation(waiting["conversationId"]).closed_ms is not None, "the close")
    await wait_for(lambda: len(bot.receiver.of_type("handover.ended", waiting["id"])) == 1, "the end delivered")
    assert bot.receiver.of_type("handover.ended", waiting["id"])[0]["data"] == {
        "status": "error",
        "reason": "queue_timeout",
    }
    # The accepted one left the queue before the limit: it is not touched.
    assert (await bot.handover(served["id"]))["state"] == "active"


async def test_routing_failure_never_hangs(acme: Bot) -> None:
    handover = await acme.start()
    await acme.sim.fail_routing(handover["conversationId"], reason="No agents available")
    ended = await acme.wait_state(handover["id"], "ended")
    assert (ended["endStatus"], ended["endReason"]) == ("error", "routing_failed")
    await wait_for(lambda: len(acme.receiver.of_type("handover.ended", handover["id"])) == 1, "the end delivered")


async def test_a_store_write_lost_after_miaw_accepted_does_not_double_the_message(
    acme: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid, cid = await _active(acme)
    store = acme.api.server.app[HANDOVERS].store
    real = store.mark_user_message_sent
    failures = [RuntimeError("the process died here")]

    async def lose_once(handover_id: str, client_id: str, miaw_id: str, digest: str | None = None) -> None:
        if failures:
            raise failures.pop()
        await real(handover_id, client_id, miaw_id, digest)

    monkeypatch.setattr(store, "mark_user_message_sent", lose_once)
    url = f"/v1/handovers/{hid}/messages"
    assert (await acme.api.post(url, json={"id": "m1", "text": "once"})).status == 500
    # MIAW has the message but the runtime never recorded it: the caller's retry goes out again, under the
    # same MIAW id, and MIAW answers it as known.
    again = await acme.api.post(url, json={"id": "m1", "text": "once"})
    assert again.status == 202
    assert _texts(acme.sim, cid) == ["once"]
    assert (await again.json())["miawMessageId"] == acme.sim.conversation(cid).end_user_messages[0].id
    assert _calls(acme.sim, "send_message") == [202, 202]
    assert (await acme.api.post(url, json={"id": "m1", "text": "once"})).status == 200


async def test_a_store_outage_delays_agent_messages_without_ending_the_handover(
    acme: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    hid, cid = await _active(acme)
    store = acme.api.server.app[HANDOVERS].store
    real = store.record_event
    outage = [ConnectionError("No connection available.")] * 2

    async def flaky(*args: Any, **kwargs: Any) -> bool:
        if outage:
            raise outage.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, "record_event", flaky)
    await acme.sim.send_text(cid, "still there?", agent="Maria")
    await wait_for(
        lambda: len(acme.receiver.of_type("agent.message", hid)) == 1, "the message after the outage", seconds=10
    )
    assert outage == []
    assert (await acme.handover(hid))["state"] == "active"
    await acme.sim.send_text(cid, "good", agent="Maria")
    await wait_for(lambda: len(acme.receiver.of_type("agent.message", hid)) == 2, "the next message")
    texts = [d["data"]["text"] for d in acme.receiver.of_type("agent.message", hid)]
    assert texts == ["still there?", "good"]
